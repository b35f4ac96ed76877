/** Distribution of one sample set (latencies in ms, costs in ns, ...). */
export interface Dist {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** A figure measured once per round: the median over rounds and the range. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  rounds: number;
}

function sorted(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(ascending: readonly number[], p: number): number {
  if (ascending.length === 0) return Number.NaN;
  const rank = Math.min(ascending.length, Math.max(1, Math.ceil((p / 100) * ascending.length)));
  return ascending[rank - 1]!;
}

export function dist(values: readonly number[]): Dist {
  const s = sorted(values);
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.length === 0 ? Number.NaN : s[s.length - 1]!,
    mean: s.length === 0 ? Number.NaN : sum / s.length,
  };
}

export function median(values: readonly number[]): number {
  const s = sorted(values.filter((v) => !Number.isNaN(v)));
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function spread(values: readonly number[]): Spread {
  const s = sorted(values.filter((v) => !Number.isNaN(v)));
  return {
    median: median(s),
    min: s.length === 0 ? Number.NaN : s[0]!,
    max: s.length === 0 ? Number.NaN : s[s.length - 1]!,
    rounds: s.length,
  };
}

/** `1.23` with `digits` decimals; `n/a` for NaN, `inf` for Infinity. */
export function fmt(value: number, digits = 2): string {
  if (Number.isNaN(value)) return 'n/a';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  return value.toFixed(digits);
}

/** `median (min to max)`, the way every table shows a per-round figure. */
export function fmtSpread(value: Spread, digits = 2, unit = ''): string {
  if (Number.isNaN(value.median)) return 'n/a';
  if (value.rounds <= 1) return `${fmt(value.median, digits)}${unit}`;
  return `${fmt(value.median, digits)}${unit} (${fmt(value.min, digits)} to ${fmt(value.max, digits)})`;
}

export function fmtPercent(ratio: number, digits = 1): string {
  return Number.isNaN(ratio) ? 'n/a' : `${(ratio * 100).toFixed(digits)} %`;
}

/** `median (min to max)` of ratios as percentages. */
export function fmtSpreadPercent(value: Spread, digits = 1): string {
  if (Number.isNaN(value.median)) return 'n/a';
  if (value.rounds <= 1) return fmtPercent(value.median, digits);
  return `${fmtPercent(value.median, digits)} (${fmtPercent(value.min, digits)} to ${fmtPercent(value.max, digits)})`;
}

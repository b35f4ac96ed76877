/**
 * Headers read by {@link parseDeadlineHeaders} and written by {@link deadlineToHeaders} by default, in that order.
 *
 * @example
 * ```ts
 * const names = [...DEFAULT_DEADLINE_HEADERS, 'x-my-timeout-ms'];
 * ```
 */
export const DEFAULT_DEADLINE_HEADERS = [
  'x-request-timeout-ms',
  'x-envoy-expected-rq-timeout-ms',
  'grpc-timeout',
] as const;

/**
 * Outcome of {@link parseDeadlineHeaders}: no deadline header, a budget in ms, or the first malformed header.
 *
 * @example
 * ```ts
 * const result: DeadlineHeaderResult = { kind: 'ok', ms: 500, header: 'grpc-timeout' };
 * ```
 */
export type DeadlineHeaderResult =
  { kind: 'absent' } | { kind: 'ok'; ms: number; header: string } | { kind: 'invalid'; header: string; reason: string };

const ABSENT: DeadlineHeaderResult = Object.freeze({ kind: 'absent' });
const MS_REASON = 'must be an integer number of milliseconds';
const GRPC_REASON = 'must be 1-8 digits followed by a unit H, M, S, m, u or n';
// Largest value the millisecond parser accepts, so what we send downstream we could also read back.
const MAX_MS_VALUE = 999_999_999;
const MAX_GRPC_VALUE = 99_999_999;

/**
 * Reads the caller's remaining time budget from request headers.
 *
 * Each name is looked up with `get`; absent headers (`null`/`undefined`) are skipped. A header named `grpc-timeout`
 * (any case) uses the gRPC format, `1-8 digits + unit` with units H, M, S, m (ms), u (µs), n (ns); sub-millisecond
 * results are rounded down so the budget is never overstated. Every other header is an integer number of ms,
 * `^-?\d{1,9}$` after trimming, so a zero or negative (already expired) budget is reported as `ok`.
 * With several headers the smallest budget wins; any malformed header makes the whole result `invalid`, because
 * guessing which of two conflicting values the caller meant would be worse than rejecting the request.
 *
 * @param get - Header lookup, e.g. `(n) => request.headers.get(n)` or Express's `(n) => req.get(n)`.
 * @param names - Headers to read; defaults to {@link DEFAULT_DEADLINE_HEADERS}.
 * @returns `absent`, `ok` with the smallest budget and the header it came from, or `invalid` naming the header.
 *
 * @example
 * ```ts
 * const result = parseDeadlineHeaders((name) => request.headers.get(name));
 * if (result.kind === 'invalid') return new Response(`${result.header} ${result.reason}`, { status: 400 });
 * const budgetMs = result.kind === 'ok' ? result.ms : 60_000;
 * ```
 */
export function parseDeadlineHeaders(
  get: (name: string) => string | null | undefined,
  names: readonly string[] = DEFAULT_DEADLINE_HEADERS,
): DeadlineHeaderResult {
  return readDeadlineHeaders({ get }, names);
}

/**
 * {@link parseDeadlineHeaders} on anything with `get(name)` (a `Headers`, an adapter's header view),
 * read in place: the guard's own path makes no lookup closure per request.
 *
 * @param headers - The request's headers.
 * @param names - Headers to read.
 * @returns As {@link parseDeadlineHeaders}.
 *
 * @example
 * ```ts
 * const result = readDeadlineHeaders(request.headers, DEFAULT_DEADLINE_HEADERS);
 * ```
 */
export function readDeadlineHeaders(
  headers: { get(name: string): string | null | undefined },
  names: readonly string[],
): DeadlineHeaderResult {
  let best: number | undefined;
  let bestHeader = '';
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const raw = headers.get(name);
    if (raw === null || raw === undefined) continue;
    const value = raw.trim();
    const grpc = isGrpcName(name);
    const ms = grpc ? parseGrpcTimeout(value) : parseMillis(value);
    if (ms === undefined) return { kind: 'invalid', header: name, reason: grpc ? GRPC_REASON : MS_REASON };
    if (best === undefined || ms < best) {
      best = ms;
      bestHeader = name;
    }
  }
  return best === undefined ? ABSENT : { kind: 'ok', ms: best, header: bestHeader };
}

/**
 * Formats a budget in ms as a gRPC `grpc-timeout` value.
 *
 * Uses whole milliseconds (`m`) and falls back to coarser units only when the value needs more than 8 digits,
 * always rounding down so the downstream deadline never outlives ours. Negative values give `0m`, `Infinity`
 * gives the largest expressible value.
 *
 * @param ms - Remaining budget in milliseconds.
 * @returns A value such as `1500m`.
 * @throws TypeError when `ms` is NaN.
 *
 * @example
 * ```ts
 * formatGrpcTimeout(1500.7); // '1500m'
 * formatGrpcTimeout(-3); // '0m'
 * ```
 */
export function formatGrpcTimeout(ms: number): string {
  if (Number.isNaN(ms)) throw new TypeError('formatGrpcTimeout: ms must be a number, got NaN');
  const whole = ms > 0 ? Math.floor(ms) : 0;
  if (whole <= MAX_GRPC_VALUE) return `${whole}m`;
  const seconds = Math.floor(whole / 1000);
  if (seconds <= MAX_GRPC_VALUE) return `${seconds}S`;
  const minutes = Math.floor(whole / 60_000);
  if (minutes <= MAX_GRPC_VALUE) return `${minutes}M`;
  const hours = Math.floor(whole / 3_600_000);
  return `${hours <= MAX_GRPC_VALUE ? hours : MAX_GRPC_VALUE}H`;
}

/**
 * Builds headers that pass the remaining budget to a downstream service.
 *
 * Millisecond headers get whole ms, floored at 0 and capped at 999 999 999 (the most {@link parseDeadlineHeaders}
 * accepts); `grpc-timeout` gets {@link formatGrpcTimeout}.
 *
 * @param remainingMs - Budget left, in ms.
 * @param names - Headers to write; defaults to {@link DEFAULT_DEADLINE_HEADERS}.
 * @returns A new object mapping each name to its value.
 * @throws TypeError when `remainingMs` is NaN.
 *
 * @example
 * ```ts
 * deadlineToHeaders(1234.5);
 * // { 'x-request-timeout-ms': '1234', 'x-envoy-expected-rq-timeout-ms': '1234', 'grpc-timeout': '1234m' }
 * ```
 */
export function deadlineToHeaders(
  remainingMs: number,
  names: readonly string[] = DEFAULT_DEADLINE_HEADERS,
): Record<string, string> {
  if (Number.isNaN(remainingMs)) throw new TypeError('deadlineToHeaders: remainingMs must be a number, got NaN');
  const whole = remainingMs > 0 ? Math.floor(remainingMs) : 0;
  const msText = String(whole < MAX_MS_VALUE ? whole : MAX_MS_VALUE);
  const headers: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    headers[name] = isGrpcName(name) ? formatGrpcTimeout(remainingMs) : msText;
  }
  return headers;
}

function isGrpcName(name: string): boolean {
  return name === 'grpc-timeout' || (name.length === 12 && name.toLowerCase() === 'grpc-timeout');
}

// Hand-rolled instead of a regex plus Number() to keep the per-request path free of allocations.
function parseMillis(value: string): number | undefined {
  const negative = value.charCodeAt(0) === 45; // '-'
  const start = negative ? 1 : 0;
  const digits = value.length - start;
  if (digits < 1 || digits > 9) return undefined;
  let n = 0;
  for (let i = start; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return negative ? 0 - n : n; // 0 - 0 is +0, so "-0" does not leak a negative zero
}

function parseGrpcTimeout(value: string): number | undefined {
  const digits = value.length - 1;
  if (digits < 1 || digits > 8) return undefined;
  let n = 0;
  for (let i = 0; i < digits; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  switch (value.charCodeAt(digits)) {
    case 72: // H
      return n * 3_600_000;
    case 77: // M
      return n * 60_000;
    case 83: // S
      return n * 1000;
    case 109: // m
      return n;
    case 117: // u
      return Math.floor(n / 1000);
    case 110: // n
      return Math.floor(n / 1_000_000);
    default:
      return undefined;
  }
}

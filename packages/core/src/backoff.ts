/**
 * Options for {@link exponentialBackoff}.
 *
 * @example
 * ```ts
 * const options: BackoffOptions = { baseMs: 250, capMs: 4000 };
 * ```
 */
export interface BackoffOptions {
  /** Ceiling of the first retry's delay, in ms. Default 500 (the SDK's initial delay). */
  baseMs?: number;
  /** Largest ceiling any retry can reach, in ms. Default 8000 (the SDK's maximum). */
  capMs?: number;
  /** Jitter source returning a value in [0, 1). Default `Math.random`; inject it to make delays deterministic. */
  random?: () => number;
}

/**
 * Maps a retry index to a delay in whole milliseconds. Index 0 is the delay before the first retry.
 *
 * @example
 * ```ts
 * const backoff: Backoff = exponentialBackoff();
 * const delayMs = backoff(0); // somewhere in [0, 500)
 * ```
 */
export type Backoff = (retryIndex: number) => number;

/**
 * Creates an exponential backoff with full jitter: `floor(random() * min(capMs, baseMs * 2 ** retryIndex))`.
 *
 * Full jitter spreads retries from many clients over the whole window, which avoids synchronized retry waves.
 * The function is pure apart from `random`: it starts no timers, so callers decide how to wait.
 *
 * @param options - Delays and jitter source; validated once here.
 * @returns A function from retry index (0-based) to delay in ms. Negative or non-integer indices are treated as
 *   `max(0, floor(index))`.
 * @throws TypeError when an option is not a positive finite number, `capMs < baseMs`, or `random` is not a function.
 *
 * @example
 * ```ts
 * const backoff = exponentialBackoff({ random: () => 1 });
 * [0, 1, 2, 3, 4, 5].map(backoff); // [500, 1000, 2000, 4000, 8000, 8000]
 * ```
 */
export function exponentialBackoff(options: BackoffOptions = {}): Backoff {
  const baseMs = options.baseMs ?? 500;
  const capMs = options.capMs ?? 8000;
  const random = options.random ?? Math.random;
  assertPositiveFinite('baseMs', baseMs);
  assertPositiveFinite('capMs', capMs);
  if (capMs < baseMs) {
    throw new TypeError(`exponentialBackoff: options.capMs (${capMs}) must be >= options.baseMs (${baseMs})`);
  }
  if (typeof random !== 'function') {
    throw new TypeError('exponentialBackoff: options.random must be a function returning a number in [0, 1)');
  }
  // From this index on the ceiling is capMs; checking it first keeps 2 ** i from ever reaching Infinity.
  const saturatedFrom = Math.ceil(Math.log2(capMs / baseMs));

  return (retryIndex) => {
    const index = retryIndex > 0 ? Math.floor(retryIndex) : 0; // NaN lands here too
    const ceiling = index >= saturatedFrom ? capMs : Math.min(capMs, baseMs * 2 ** index);
    const r = random();
    // Clamp so a misbehaving generator (NaN, > 1, < 0) cannot produce a delay outside [0, ceiling].
    const jitter = r > 0 ? (r < 1 ? r : 1) : 0;
    return Math.floor(jitter * ceiling);
  };
}

function assertPositiveFinite(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`exponentialBackoff: options.${name} must be a positive finite number, got ${String(value)}`);
  }
}

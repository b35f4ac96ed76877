/**
 * Options for {@link createRetryBudget}. Defaults follow Finagle's `RetryBudget`.
 *
 * @example
 * ```ts
 * const options: RetryBudgetOptions = { percentCanRetry: 0.1, minRetriesPerSecond: 5 };
 * ```
 */
export interface RetryBudgetOptions {
  /** Retries allowed per first attempt in the window, e.g. 0.2 = one retry per five requests. Default 0.2. */
  percentCanRetry?: number;
  /** Retries always allowed per second, so low-traffic routes can still retry. Default 10. */
  minRetriesPerSecond?: number;
  /** Length of the sliding window in ms. Default 10 000. */
  ttlMs?: number;
  /** Clock in ms. Default `Date.now`; inject it in tests. */
  now?: () => number;
}

/**
 * Shared allowance of retries, so a failing upstream sees at most a bounded extra load (no retry storms).
 *
 * @example
 * ```ts
 * const budget = createRetryBudget();
 * budget.recordRequest();
 * if (!budget.tryWithdraw()) throw new Error('retry budget exhausted');
 * ```
 */
export interface RetryBudget {
  /** Records a first attempt; call once per request, never for retries. */
  recordRequest(): void;
  /** Takes one retry from the budget; returns false (and takes nothing) when none is left. */
  tryWithdraw(): boolean;
  /** Whole retries that {@link RetryBudget.tryWithdraw} would grant right now. */
  balance(): number;
}

// Ten buckets keep the window's error below 10 % of ttl while memory stays constant.
const BUCKETS = 10;

/**
 * Creates a Finagle-style retry budget over a sliding window of `ttlMs`.
 *
 * A retry is granted while `retries + 1 <= minRetriesPerSecond * ttlMs / 1000 + percentCanRetry * requests`,
 * counting requests and granted retries inside the window. The window is a ring of 10 buckets rotated lazily from
 * `now()` on every call, so there are no timers and memory is O(1). It slides in steps of `ttlMs / 10`, so an
 * entry expires between `0.9 * ttlMs` and `ttlMs` after it was recorded. A clock that goes backwards is treated
 * as standing still.
 *
 * @param options - Budget shape and clock; validated once here.
 * @returns A budget to share across all calls to one upstream.
 * @throws TypeError naming the option when an option is out of range.
 *
 * @example
 * ```ts
 * const budget = createRetryBudget({ percentCanRetry: 0.2, minRetriesPerSecond: 0 });
 * for (let i = 0; i < 10; i++) budget.recordRequest();
 * budget.tryWithdraw(); // true
 * budget.tryWithdraw(); // true
 * budget.tryWithdraw(); // false: 2 retries for 10 requests is the 20 % allowance
 * ```
 */
export function createRetryBudget(options: RetryBudgetOptions = {}): RetryBudget {
  const percentCanRetry = options.percentCanRetry ?? 0.2;
  const minRetriesPerSecond = options.minRetriesPerSecond ?? 10;
  const ttlMs = options.ttlMs ?? 10_000;
  const now = options.now ?? Date.now;
  assertNonNegativeFinite('percentCanRetry', percentCanRetry);
  assertNonNegativeFinite('minRetriesPerSecond', minRetriesPerSecond);
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs < 1) {
    throw new TypeError(`createRetryBudget: options.ttlMs must be a finite number >= 1, got ${String(ttlMs)}`);
  }
  if (typeof now !== 'function') {
    throw new TypeError('createRetryBudget: options.now must be a function returning milliseconds');
  }

  const reserve = (minRetriesPerSecond * ttlMs) / 1000;
  const bucketMs = ttlMs / BUCKETS;
  const requests = new Float64Array(BUCKETS);
  const retries = new Float64Array(BUCKETS);
  let totalRequests = 0;
  let totalRetries = 0;
  let index = 0; // ring position of the current bucket
  let slot = Math.floor(now() / bucketMs); // absolute bucket number of the current bucket

  const rotate = (): void => {
    const current = Math.floor(now() / bucketMs);
    const steps = current - slot;
    if (!(steps > 0)) return; // same bucket, clock went backwards, or NaN
    slot = current;
    if (steps >= BUCKETS) {
      requests.fill(0);
      retries.fill(0);
      totalRequests = 0;
      totalRetries = 0;
      return;
    }
    for (let s = 0; s < steps; s++) {
      index = index + 1 === BUCKETS ? 0 : index + 1;
      totalRequests -= requests[index]!;
      totalRetries -= retries[index]!;
      requests[index] = 0;
      retries[index] = 0;
    }
  };

  // The epsilon absorbs float error such as 0.1 * 30 landing a hair under a whole retry.
  const available = (): number => reserve + percentCanRetry * totalRequests - totalRetries + 1e-9;

  return {
    recordRequest() {
      rotate();
      requests[index]! += 1;
      totalRequests += 1;
    },
    tryWithdraw() {
      rotate();
      if (available() < 1) return false;
      retries[index]! += 1;
      totalRetries += 1;
      return true;
    },
    balance() {
      rotate();
      const whole = Math.floor(available());
      return whole > 0 ? whole : 0;
    },
  };
}

function assertNonNegativeFinite(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(
      `createRetryBudget: options.${name} must be a non-negative finite number, got ${String(value)}`,
    );
  }
}

import type { FleetCounts, FleetMember, FleetView } from './fleet-sync.js';
import type { RetryBudget, RetryBudgetOptions } from './retry-budget.js';

// As the local budget: ten buckets keep the window's error below 10 % of ttl.
const BUCKETS = 10;

/**
 * The retry budget of a fleet: the same rule as {@link createRetryBudget}'s
 * (`retries + 1 <= minRetriesPerSecond * ttlMs / 1000 + percentCanRetry * requests`), but with the
 * requests and retries of every replica in the window, as the last fleet sync saw them, added to
 * this replica's own. So the configured percentage (and the per-second floor) hold for the fleet,
 * not once per replica. The request path stays local: no store call, only the last synced view;
 * while the store is away the view is dropped and the budget is this replica's alone, as without a
 * fleet. Buckets are aligned on multiples of `ttlMs / 10` since the clock's zero, so every replica's
 * bucket numbers agree.
 *
 * @example
 * ```ts
 * const budget = new FleetRetryBudget({ ...DEFAULTS.retryBudget, now: clock.now });
 * fleetSync.add(budget);
 * budget.recordRequest();
 * budget.tryWithdraw(); // decided with the fleet's counts
 * ```
 */
export class FleetRetryBudget implements RetryBudget, FleetMember {
  readonly storeKey = 'retry-budget';
  readonly hints = false;
  readonly bucketMs: number;
  readonly windowMs: number;
  readonly #reserve: number;
  readonly #percent: number;
  readonly #now: () => number;
  /** Oldest first; `bucket` is the newest one's absolute number. */
  readonly #window: { requests: number; retries: number }[];
  #bucket: number;
  #elsewhere: FleetCounts | undefined;

  constructor(
    options: Required<Pick<RetryBudgetOptions, 'percentCanRetry' | 'minRetriesPerSecond' | 'ttlMs' | 'now'>>,
  ) {
    this.windowMs = options.ttlMs;
    this.bucketMs = options.ttlMs / BUCKETS;
    this.#reserve = (options.minRetriesPerSecond * options.ttlMs) / 1000;
    this.#percent = options.percentCanRetry;
    this.#now = options.now;
    this.#window = Array.from({ length: BUCKETS }, () => ({ requests: 0, retries: 0 }));
    this.#bucket = Math.floor(this.#now() / this.bucketMs);
  }

  recordRequest(): void {
    this.#rotate(this.#now());
    this.#newest().requests += 1;
  }

  tryWithdraw(): boolean {
    this.#rotate(this.#now());
    if (this.#available() < 1) return false;
    this.#newest().retries += 1;
    return true;
  }

  balance(): number {
    this.#rotate(this.#now());
    const whole = Math.floor(this.#available());
    return whole > 0 ? whole : 0;
  }

  /** @internal For the fleet sync. */
  windowAt(now: number): { bucket: number; counts: Readonly<FleetCounts> }[] {
    this.#rotate(now);
    const first = this.#bucket - this.#window.length + 1;
    return this.#window.map((counts, i) => ({ bucket: first + i, counts }));
  }

  /** @internal For the fleet sync: the other replicas' requests and retries in the window. */
  applyFleet(view: FleetView | undefined): void {
    this.#elsewhere = view?.elsewhere;
  }

  #available(): number {
    let requests = this.#elsewhere?.requests ?? 0;
    let retries = this.#elsewhere?.retries ?? 0;
    for (const counts of this.#window) {
      requests += counts.requests;
      retries += counts.retries;
    }
    // The epsilon absorbs float error such as 0.1 * 30 landing a hair under a whole retry.
    return this.#reserve + this.#percent * requests - retries + 1e-9;
  }

  #newest(): { requests: number; retries: number } {
    const counts = this.#window[this.#window.length - 1];
    if (counts === undefined) throw new RangeError('a retry budget window holds at least one bucket');
    return counts;
  }

  /** A clock that steps back rotates nothing. Old count objects are replaced, never zeroed: a sync may hold them. */
  #rotate(now: number): void {
    const bucket = Math.floor(now / this.bucketMs);
    if (!(bucket > this.#bucket)) return;
    const due = Math.min(bucket - this.#bucket, this.#window.length);
    for (let i = 0; i < due; i++) {
      this.#window.shift();
      this.#window.push({ requests: 0, retries: 0 });
    }
    this.#bucket = bucket;
  }
}

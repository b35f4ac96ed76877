import type { Clock, TimerHandle } from './clock.js';
import { DeadlineExceededError } from './deadline.js';

/**
 * The two queue lanes. `interactive` (the default) is served first; `batch` waits behind it, but never
 * longer than the limiter's starvation rule allows (see {@link createConcurrencyLimiter}).
 *
 * @example
 * ```ts
 * const lane: Lane = request.headers.get('x-claude-lane') === 'batch' ? 'batch' : 'interactive';
 * ```
 */
export type Lane = 'interactive' | 'batch';

/**
 * Gives a slot back. Calling it again does nothing.
 *
 * @example
 * ```ts
 * const release: Release = await limiter.acquire();
 * try { await callClaude(); } finally { release(); }
 * ```
 */
export type Release = () => void;

/**
 * Thrown (as a rejection) by {@link ConcurrencyLimiter.acquire} at once when every slot is busy and the
 * queue is full. The request was never queued.
 *
 * @example
 * ```ts
 * if (err instanceof QueueFullError) return new Response(null, { status: 503, headers: { 'retry-after': '1' } });
 * ```
 */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  constructor(
    /** The limiter's name: the route, or the breaker key routes share. */
    readonly queue: string,
    readonly lane: Lane,
    /** The configured queue bound, all lanes together. */
    readonly maxQueue: number,
  ) {
    super(`The queue '${queue}' is full (${maxQueue} waiting)`);
  }
}

/**
 * The rejection of {@link ConcurrencyLimiter.acquire} when the request's deadline ran out while it waited
 * in the queue. It left the queue, and no slot was taken.
 *
 * @example
 * ```ts
 * if (err instanceof QueueTimeoutError) console.log(`${err.waitedMs} ms in queue ${err.queue}`);
 * ```
 */
export class QueueTimeoutError extends Error {
  override readonly name = 'QueueTimeoutError';
  constructor(
    readonly queue: string,
    readonly lane: Lane,
    /** Time spent in the queue, per the limiter's clock. */
    readonly waitedMs: number,
    options?: { cause?: unknown },
  ) {
    super(`The deadline ran out after ${waitedMs} ms in the queue '${queue}'`, options);
  }
}

/**
 * Options of {@link createConcurrencyLimiter}.
 *
 * @example
 * ```ts
 * const options: ConcurrencyLimiterOptions = { name: 'chat', maxConcurrency: 4, maxQueue: 8, clock: systemClock };
 * ```
 */
export interface ConcurrencyLimiterOptions {
  /** Named in errors and status: the route, or the breaker key that routes share. */
  name: string;
  /** Calls at once. `undefined`: no limit, and `acquire()` costs nothing. */
  maxConcurrency?: number | undefined;
  /** Waiters at most, both lanes together; beyond it `acquire()` rejects with {@link QueueFullError}. Default `maxConcurrency`. */
  maxQueue?: number | undefined;
  /** A batch waiter that has waited this long goes ahead of interactive ones (see the rule). Default 5 000. */
  batchMaxWaitMs?: number | undefined;
  clock: Clock;
}

/**
 * What one call to {@link ConcurrencyLimiter.acquire} asks for.
 *
 * @example
 * ```ts
 * await limiter.acquire({ lane: 'batch', signal: deadline.signal, deadlineAt: deadline.at });
 * ```
 */
export interface AcquireOptions {
  /** Default `interactive`. */
  lane?: Lane | undefined;
  /**
   * Aborting it takes the waiter out of the queue at once; the promise rejects with the signal's reason, or
   * with {@link QueueTimeoutError} when that reason is a {@link DeadlineExceededError}.
   */
  signal?: AbortSignal | undefined;
  /** Clock time (ms) by which a slot must be granted, else {@link QueueTimeoutError}. */
  deadlineAt?: number | undefined;
}

/**
 * A point-in-time view of a limiter, for `status()` and metrics.
 *
 * @example
 * ```ts
 * const { active, queued } = limiter.stats();
 * ```
 */
export interface ConcurrencyStats {
  readonly name: string;
  /** `undefined` when unlimited. */
  readonly maxConcurrency: number | undefined;
  readonly maxQueue: number;
  /** Slots held now. Always 0 when unlimited (nothing is counted). */
  readonly active: number;
  readonly queued: { readonly interactive: number; readonly batch: number };
}

/**
 * Caps concurrent calls, with a bounded two-lane FIFO queue in front.
 *
 * @example
 * ```ts
 * const release = await limiter.acquire({ signal: deadline.signal, deadlineAt: deadline.at });
 * try { return await retryLoop(); } finally { release(); }
 * ```
 */
export interface ConcurrencyLimiter {
  readonly name: string;
  /** False when `maxConcurrency` is undefined: `acquire()` then resolves at once with a shared no-op. */
  readonly limited: boolean;
  /**
   * Resolves with a {@link Release} once a slot is held: at once when one is free and nobody waits, else
   * in queue order. Rejects at once with {@link QueueFullError} when the queue is full; with
   * {@link QueueTimeoutError} when `deadlineAt` passes (or the signal aborts with a deadline reason) while
   * queued; with the signal's reason when it aborts for any other cause. A rejected waiter leaves nothing
   * behind (no timer, no listener) and never holds a slot.
   */
  acquire(options?: AcquireOptions): Promise<Release>;
  /**
   * A slot now, synchronously, when one is free and nobody waits (the hot path: no promise); `undefined`
   * otherwise. Unlimited: the shared no-op.
   */
  tryAcquire(): Release | undefined;
  stats(): ConcurrencyStats;
}

const NOOP_RELEASE: Release = () => {};
// setTimeout fires at once for anything above 2^31 - 1 ms; a deadline that far off is left to the signal.
const MAX_TIMER_MS = 2_147_483_647;
const GRANTED_NOOP: Promise<Release> = Promise.resolve(NOOP_RELEASE);
const ONCE: AddEventListenerOptions = Object.freeze({ once: true });

interface Waiter {
  readonly lane: Lane;
  readonly enqueuedAt: number;
  readonly resolve: (release: Release) => void;
  readonly reject: (error: unknown) => void;
  prev: Waiter | undefined;
  next: Waiter | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  timer: TimerHandle | undefined;
}

/** A FIFO with O(1) removal from the middle, so a waiter that gives up leaves at once. */
class WaitList {
  head: Waiter | undefined;
  tail: Waiter | undefined;
  size = 0;

  push(waiter: Waiter): void {
    waiter.prev = this.tail;
    if (this.tail) this.tail.next = waiter;
    else this.head = waiter;
    this.tail = waiter;
    this.size += 1;
  }

  remove(waiter: Waiter): void {
    if (waiter.prev) waiter.prev.next = waiter.next;
    else this.head = waiter.next;
    if (waiter.next) waiter.next.prev = waiter.prev;
    else this.tail = waiter.prev;
    waiter.prev = undefined;
    waiter.next = undefined;
    this.size -= 1;
  }
}

/**
 * Creates a {@link ConcurrencyLimiter}: `maxConcurrency` slots and a queue of at most `maxQueue` waiters,
 * each in one of two FIFO lanes.
 *
 * Who gets a freed slot: the oldest interactive waiter, unless the oldest batch waiter has waited
 * `batchMaxWaitMs` or more, in which case it goes first; but never two such aged batch grants in a row
 * while interactive requests wait (they alternate). With no interactive waiter, the oldest batch waiter.
 * So a batch request gets a slot at most `batchMaxWaitMs`, plus two slot releases per aged batch waiter
 * ahead of it, after it queued; and a flood of batch work can take at most every other slot from
 * interactive requests. The age is checked when a slot frees: no timer per lane.
 *
 * A slot freed while anyone waits goes straight to the next waiter (the count of active slots never dips),
 * so a newcomer cannot overtake the queue.
 *
 * @param options - Validated once here; errors name the option.
 * @returns The limiter.
 * @throws TypeError naming the option when one is out of range.
 *
 * @example
 * ```ts
 * const limiter = createConcurrencyLimiter({ name: 'chat', maxConcurrency: 4, maxQueue: 4, clock: systemClock });
 * const release = await limiter.acquire({ lane: 'interactive', signal: deadline.signal, deadlineAt: deadline.at });
 * try {
 *   return await callClaude();
 * } finally {
 *   release();
 * }
 * ```
 */
export function createConcurrencyLimiter(options: ConcurrencyLimiterOptions): ConcurrencyLimiter {
  const { name, maxConcurrency, clock } = options;
  if (typeof name !== 'string' || name === '') {
    throw new TypeError('createConcurrencyLimiter: options.name must be a non-empty string');
  }
  if (maxConcurrency !== undefined && !(Number.isInteger(maxConcurrency) && maxConcurrency >= 1)) {
    throw new TypeError(
      `createConcurrencyLimiter: options.maxConcurrency must be a positive integer or undefined, got ${String(maxConcurrency)}`,
    );
  }
  const maxQueue = options.maxQueue ?? maxConcurrency ?? 0;
  if (!(Number.isInteger(maxQueue) && maxQueue >= 0)) {
    throw new TypeError(
      `createConcurrencyLimiter: options.maxQueue must be a non-negative integer, got ${String(maxQueue)}`,
    );
  }
  const batchMaxWaitMs = options.batchMaxWaitMs ?? 5_000;
  if (typeof batchMaxWaitMs !== 'number' || !Number.isFinite(batchMaxWaitMs) || batchMaxWaitMs < 0) {
    throw new TypeError(
      `createConcurrencyLimiter: options.batchMaxWaitMs must be a finite number >= 0, got ${String(batchMaxWaitMs)}`,
    );
  }
  if (typeof clock?.now !== 'function' || typeof clock.setTimeout !== 'function') {
    throw new TypeError('createConcurrencyLimiter: options.clock must be a Clock');
  }

  if (maxConcurrency === undefined) {
    const stats: ConcurrencyStats = {
      name,
      maxConcurrency: undefined,
      maxQueue,
      active: 0,
      queued: { interactive: 0, batch: 0 },
    };
    return { name, limited: false, acquire: () => GRANTED_NOOP, tryAcquire: () => NOOP_RELEASE, stats: () => stats };
  }

  const lanes: Readonly<Record<Lane, WaitList>> = { interactive: new WaitList(), batch: new WaitList() };
  let active = 0;
  // True after an aged batch waiter took a slot over waiting interactive ones: the next slot is theirs.
  let interactiveOwed = false;

  const detach = (waiter: Waiter): void => {
    lanes[waiter.lane].remove(waiter);
    if (waiter.timer !== undefined) clock.clearTimeout(waiter.timer);
    waiter.timer = undefined;
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
    waiter.signal = undefined;
    waiter.onAbort = undefined;
  };

  const pickNext = (): Waiter | undefined => {
    const interactive = lanes.interactive.head;
    const batch = lanes.batch.head;
    if (batch === undefined) {
      interactiveOwed = false;
      return interactive;
    }
    if (interactive === undefined) return batch;
    if (!interactiveOwed && clock.now() - batch.enqueuedAt >= batchMaxWaitMs) {
      interactiveOwed = true;
      return batch;
    }
    interactiveOwed = false;
    return interactive;
  };

  const makeRelease = (): Release => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = pickNext();
      if (next === undefined) {
        active -= 1;
        return;
      }
      // Hand the slot over: `active` stays the same.
      detach(next);
      next.resolve(makeRelease());
    };
  };

  const acquire = (request: AcquireOptions = {}): Promise<Release> => {
    const lane = request.lane ?? 'interactive';
    const { signal, deadlineAt } = request;
    // Already over (the client left, or the deadline passed before the request got here): not a queue event.
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (active < maxConcurrency && lanes.interactive.size + lanes.batch.size === 0) {
      active += 1;
      return Promise.resolve(makeRelease());
    }
    if (lanes.interactive.size + lanes.batch.size >= maxQueue) {
      return Promise.reject(new QueueFullError(name, lane, maxQueue));
    }
    const now = clock.now();
    if (deadlineAt !== undefined && deadlineAt <= now) {
      return Promise.reject(new QueueTimeoutError(name, lane, 0));
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        lane,
        enqueuedAt: now,
        resolve,
        reject,
        prev: undefined,
        next: undefined,
        signal: undefined,
        onAbort: undefined,
        timer: undefined,
      };
      lanes[lane].push(waiter);
      if (deadlineAt !== undefined && deadlineAt - now <= MAX_TIMER_MS) {
        waiter.timer = clock.setTimeout(() => {
          waiter.timer = undefined;
          detach(waiter);
          reject(new QueueTimeoutError(name, lane, clock.now() - now));
        }, deadlineAt - now);
      }
      if (signal) {
        waiter.signal = signal;
        waiter.onAbort = () => {
          detach(waiter);
          const reason: unknown = signal.reason;
          const waitedMs = clock.now() - now;
          reject(
            reason instanceof DeadlineExceededError
              ? new QueueTimeoutError(name, lane, waitedMs, { cause: reason })
              : reason,
          );
        };
        signal.addEventListener('abort', waiter.onAbort, ONCE);
      }
    });
  };

  const tryAcquire = (): Release | undefined => {
    if (active >= maxConcurrency || lanes.interactive.size + lanes.batch.size > 0) return undefined;
    active += 1;
    return makeRelease();
  };

  return {
    name,
    limited: true,
    acquire,
    tryAcquire,
    stats: () => ({
      name,
      maxConcurrency,
      maxQueue,
      active,
      queued: { interactive: lanes.interactive.size, batch: lanes.batch.size },
    }),
  };
}

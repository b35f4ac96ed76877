import { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { AttemptFailure } from './classify.js';
import type { Clock } from './clock.js';
import type { BreakerOptions } from './options.js';
import type { GuardEvents } from './events.js';

/**
 * A breaker's state as clients of `/guard/status` see it.
 *
 * @example
 * ```ts
 * const open = guard.status().breakers.some((breaker) => breaker.state === 'open');
 * ```
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A serializable view of one breaker.
 *
 * @example
 * ```ts
 * for (const breaker of guard.status().breakers) console.log(breaker.key, breaker.state, breaker.counts.failures);
 * ```
 */
export interface BreakerSnapshot {
  key: string;
  routes: string[];
  state: BreakerState;
  /** Milliseconds until the breaker lets a trial through; 0 unless open. */
  retryAfterMs: number;
  /** Counts over the rolling window; a call counts (`fires` and its verdict) when it is judged or refused, however long it ran. `neutral`: calls that said nothing about upstream health (client aborts, the caller's short deadlines), since the breaker was created. */
  counts: { fires: number; successes: number; failures: number; rejects: number; neutral: number };
  options: Required<Omit<BreakerOptions, 'key'>>;
}

/**
 * What a breaker shows to anyone: its key, its state and a wait in whole seconds. No counts, no
 * options, no milliseconds: exact timings told a client when the half-open moment would come.
 *
 * @example
 * ```ts
 * app.get('/guard/status', (_req, res) => res.json(guard.publicStatus()));
 * // { breakers: [{ key: 'chat', state: 'open', retryAfterSeconds: 12 }] }
 * ```
 */
export interface PublicBreakerStatus {
  key: string;
  state: BreakerState;
  /** Whole seconds (rounded up) a refused request is told to wait, as its `retry-after` says; 0 when closed. */
  retryAfterSeconds: number;
}

/** Thrown inside a breaker call so the breaker can read the attempt's verdict. */
export class AttemptFailedError extends Error {
  override readonly name = 'AttemptFailedError';
  constructor(readonly failure: AttemptFailure) {
    super(`Attempt failed: ${failure.kind}`);
  }
}

/** Thrown when a breaker refuses a call. */
export class BreakerOpenError extends Error {
  override readonly name = 'BreakerOpenError';
  constructor(
    readonly key: string,
    readonly retryAfterMs: number,
  ) {
    super(`Circuit breaker '${key}' is open`);
  }
}

type Action = (work: () => Promise<unknown>) => Promise<unknown>;

const runWork: Action = (work) => work();

function isNeutral(value: unknown): boolean {
  return value instanceof AttemptFailedError && value.failure.breaker === 'neutral';
}

/**
 * opossum, taught one more outcome: a neutral call (the client left, the caller's own deadline)
 * is neither a success nor a failure. opossum knows only the two, so the filtered "success" it
 * emits for a neutral call is swallowed here before it can close a half-open breaker.
 *
 * The half-open trial slot is ours too. opossum's `fire()` lets a call through while half-open
 * only when `pendingClose` is true, and clears its private flag for the trial with no way to set
 * it back; so a neutral trial could only re-open the breaker, and one client with a 20 ms deadline
 * timed to the half-open moment pinned it open. Reading the slot from {@link trial} instead lets
 * a neutral trial hand the slot to the next call while the breaker stays half-open.
 */
class GuardCircuitBreaker extends CircuitBreaker<[() => Promise<unknown>], unknown> {
  neutral = 0;
  /** The work of the half-open trial in flight (its identity), or `undefined` when the slot is free. */
  trial: object | undefined = undefined;
  /** Set right after construction (opossum's constructor may emit before our fields exist). */
  rotation: BucketRotation | undefined;

  /** Set while {@link GuardCircuitBreaker.refuse} emits its reject (a plain field: opossum may emit during construction). */
  refusing = false;

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    // opossum counts a call's fire when it starts and its verdict when it ends; a call longer than
    // the window (a stall held to a 60 s deadline, with a 10 s window) would have its fire rotated
    // away before its failure, and a burst of such failures could never reach volumeThreshold.
    // So a fire is counted when the call is judged: at its verdict, or at once when refused.
    if (event === 'fire' && this.enabled) return true;
    // Every count opossum keeps (fire, reject, success, failure) is written, and read to decide
    // whether to open, inside one of its own events: catching up on the window first makes every
    // such write and read see the window the injected clock says it is.
    this.rotation?.catchUp();
    if (this.enabled && (event === 'success' || event === 'failure' || (event === 'reject' && !this.refusing))) {
      super.emit('fire');
    }
    if (event === 'success' && isNeutral(args[0])) {
      // Proves nothing either way: no close, no open. The trial's slot is released by its caller.
      this.neutral += 1;
      return false;
    }
    // Any transition ends the trial: closed and open need none, and a new half-open starts free.
    if (event === 'open' || event === 'close' || event === 'halfOpen') this.trial = undefined;
    return super.emit(event, ...args);
  }

  /** Counts a refusal that never reached `fire()` (a trial refused for its short budget): a reject, no fire. */
  refuse(error: Error): void {
    this.refusing = true;
    try {
      this.emit('reject', error);
    } finally {
      this.refusing = false;
    }
  }
}

// `fire()` reads the public `pendingClose` getter; its types declare a plain property, which a
// class accessor may not override, so the getter is redefined on our prototype.
Object.defineProperty(GuardCircuitBreaker.prototype, 'pendingClose', {
  get(this: GuardCircuitBreaker): boolean {
    return this.halfOpen && this.trial === undefined;
  },
});

/**
 * The rolling windows of every breaker whose buckets have one length, rotated on the injected
 * clock without any timer: whenever one of those breakers counts or is read, the buckets that have
 * elapsed since the last rotation are rotated away first (at most as many as a window holds). This
 * is exactly what a periodic rotation would have done by that moment, costs one `clock.now()` per
 * breaker event, arms nothing (an idle guard holds no timer) and follows a fake or manual clock.
 */
class BucketRotation {
  /** opossum's `rotateBucketController`: each `rotate` shifts the window of every breaker listening. */
  readonly emitter = new EventEmitter();
  #rotatedAt: number;
  #maxBuckets = 0;

  constructor(
    private readonly clock: Clock,
    readonly intervalMs: number,
  ) {
    this.emitter.setMaxListeners(0);
    this.#rotatedAt = clock.now();
  }

  /** A breaker of `buckets` buckets listens: more rotations than that clear its window all the same. */
  track(buckets: number): void {
    this.#maxBuckets = Math.max(this.#maxBuckets, buckets);
  }

  catchUp(): void {
    const elapsed = this.clock.now() - this.#rotatedAt;
    if (elapsed < this.intervalMs) return;
    const due = Math.floor(elapsed / this.intervalMs);
    // Keeps the phase: the next rotation is due one interval after the last one that was due.
    this.#rotatedAt += due * this.intervalMs;
    for (let rotated = 0; rotated < due && rotated < this.#maxBuckets; rotated++) this.emitter.emit('rotate');
  }
}

/**
 * One opossum breaker per route key, created on first use. opossum's own timeout is off (the
 * deadline and attempt timers own time) and there is no breaker-wide AbortController (each call
 * gets its own). Breakers with the same bucket length share one {@link BucketRotation}, driven by
 * the injected clock. opossum's reset timer (open -> half-open after `resetTimeout`) is its own
 * global `setTimeout` (unref'd): opossum 9 takes no timer, and half-open can only be entered from
 * inside it, so that one transition runs on real (or globally faked) time.
 *
 * @example
 * ```ts
 * const registry = new BreakerRegistry(systemClock, events);
 * const breaker = registry.get('summarize', 'summarize', config.breaker);
 * await breaker.execute(() => client.messages.create(params));
 * ```
 */
export class BreakerRegistry {
  readonly #breakers = new Map<string, RouteBreaker>();
  readonly #rotations = new Map<number, BucketRotation>();

  constructor(
    private readonly clock: Clock,
    private readonly events: GuardEvents,
  ) {}

  get(key: string, route: string, options: Required<Omit<BreakerOptions, 'key'>>): RouteBreaker {
    let breaker = this.#breakers.get(key);
    if (!breaker) {
      breaker = new RouteBreaker(key, options, this.clock, this.events, this.#rotation(options));
      this.#breakers.set(key, breaker);
    }
    breaker.routes.add(route);
    return breaker;
  }

  snapshot(): BreakerSnapshot[] {
    return [...this.#breakers.values()].map((breaker) => breaker.snapshot());
  }

  publicSnapshot(): PublicBreakerStatus[] {
    return [...this.#breakers.values()].map((breaker) => breaker.publicSnapshot());
  }

  close(): void {
    for (const breaker of this.#breakers.values()) breaker.shutdown();
    this.#breakers.clear();
    this.#rotations.clear();
  }

  #rotation(options: Required<Omit<BreakerOptions, 'key'>>): BucketRotation {
    const interval = options.rollingCountTimeout / options.rollingCountBuckets;
    let rotation = this.#rotations.get(interval);
    if (!rotation) {
      rotation = new BucketRotation(this.clock, interval);
      this.#rotations.set(interval, rotation);
    }
    rotation.track(options.rollingCountBuckets);
    return rotation;
  }
}

/** One route key's breaker. */
export class RouteBreaker {
  readonly routes = new Set<string>();
  readonly #breaker: GuardCircuitBreaker;
  #openedAt = 0;

  constructor(
    readonly key: string,
    readonly options: Required<Omit<BreakerOptions, 'key'>>,
    private readonly clock: Clock,
    events: GuardEvents,
    rotation: BucketRotation,
  ) {
    this.#breaker = new GuardCircuitBreaker(runWork, {
      name: key,
      timeout: false,
      errorThresholdPercentage: options.errorThresholdPercentage,
      volumeThreshold: options.volumeThreshold,
      rollingCountTimeout: options.rollingCountTimeout,
      rollingCountBuckets: options.rollingCountBuckets,
      resetTimeout: options.resetTimeout,
      enabled: options.enabled,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      rotateBucketController: rotation.emitter,
      // Only upstream ill health counts against the breaker.
      errorFilter: (error: unknown) => !(error instanceof AttemptFailedError) || error.failure.breaker !== 'failure',
    });
    this.#breaker.rotation = rotation;
    this.#breaker.on('open', () => {
      this.#openedAt = this.clock.now();
      events.emit({ type: 'breaker-open', key });
    });
    this.#breaker.on('halfOpen', () => events.emit({ type: 'breaker-half-open', key }));
    this.#breaker.on('close', () => events.emit({ type: 'breaker-close', key }));
  }

  get state(): BreakerState {
    if (this.#breaker.halfOpen) return 'half-open';
    return this.#breaker.opened ? 'open' : 'closed';
  }

  /** Milliseconds until a trial is let through; 0 when closed. */
  retryAfterMs(): number {
    if (this.#breaker.opened) {
      return Math.max(0, this.#openedAt + this.options.resetTimeout - this.clock.now());
    }
    // Half-open with the trial in flight: the answer is near.
    return this.#breaker.halfOpen ? 1_000 : 0;
  }

  /**
   * Runs `work` under the breaker. `work` must throw {@link AttemptFailedError} for failures so
   * the breaker knows how to count them; anything else is rethrown as it is.
   *
   * Half-open, one call at a time is the trial. A call whose `budgetMs` (the time its request has
   * left) is below `minTrialBudgetMs` is refused with {@link BreakerOpenError} rather than take the
   * trial: it could only end neutral. A trial that ends neutral frees the slot for the next call.
   */
  async execute<T>(work: () => Promise<T>, options: { budgetMs?: number } = {}): Promise<T> {
    const breaker = this.#breaker;
    // Closed or open: no trial to hand out. Nothing between here and opossum calling `work` can make
    // it half-open (that takes its reset timer), so the half-open bookkeeping below is skipped.
    if (!breaker.halfOpen) {
      try {
        return (await breaker.fire(work)) as T;
      } catch (error) {
        if (CircuitBreaker.isOurError(error as Error)) throw new BreakerOpenError(this.key, this.retryAfterMs());
        throw error;
      }
    }
    if (breaker.pendingClose && (options.budgetMs ?? Infinity) < this.options.minTrialBudgetMs) {
      const refused = new BreakerOpenError(this.key, this.retryAfterMs());
      breaker.refuse(refused); // counted with opossum's own rejects
      throw refused;
    }
    let token: object | undefined;
    const run = (): Promise<T> => {
      // opossum calls this synchronously once it has let the call through: half-open, it is the trial.
      if (breaker.halfOpen) {
        token = run;
        breaker.trial = token;
      }
      return work();
    };
    try {
      return (await breaker.fire(run)) as T;
    } catch (error) {
      if (CircuitBreaker.isOurError(error as Error)) {
        throw new BreakerOpenError(this.key, this.retryAfterMs());
      }
      throw error;
    } finally {
      // Still ours only when the trial ended without a transition: a neutral verdict.
      if (token !== undefined && breaker.trial === token) breaker.trial = undefined;
    }
  }

  snapshot(): BreakerSnapshot {
    this.#breaker.rotation?.catchUp();
    const stats = this.#breaker.stats;
    return {
      key: this.key,
      routes: [...this.routes],
      state: this.state,
      retryAfterMs: this.retryAfterMs(),
      counts: {
        fires: stats.fires,
        successes: stats.successes,
        failures: stats.failures,
        rejects: stats.rejects,
        neutral: this.#breaker.neutral,
      },
      options: this.options,
    };
  }

  publicSnapshot(): PublicBreakerStatus {
    return { key: this.key, state: this.state, retryAfterSeconds: Math.ceil(this.retryAfterMs() / 1000) };
  }

  shutdown(): void {
    this.#breaker.shutdown();
  }
}

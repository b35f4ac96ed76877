import {
  admitToBreaker,
  advanceBreaker,
  breakerCounts,
  breakerRetryAfterMs,
  closeBreakerAfter,
  denyTrial,
  initialBreakerState,
  openBreakerAt,
  settleInBreaker,
  type BreakerCounts,
  type BreakerMachineState,
  type BreakerState,
  type BreakerTransition,
  type BreakerVerdict,
} from './breaker-machine.js';
import type { AttemptFailure } from './classify.js';
import type { Clock } from './clock.js';
import type { BreakerOptions } from './options.js';
import type { GuardEvents } from './events.js';
import type { FleetMember, FleetSync, FleetView } from './fleet-sync.js';

export type { BreakerState } from './breaker-machine.js';

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
  /**
   * Fleet mode (a `store` given): the window's counts summed over every replica at the last sync,
   * this one included; `undefined` without a store, or while the store is away.
   */
  fleetCounts?: { fires: number; successes: number; failures: number; rejects: number } | undefined;
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

/**
 * A settled call's verdict. An error that is not an attempt's verdict says nothing bad about the
 * upstream (it is the caller's own, or a bug): it counts with the successes, as opossum's
 * `errorFilter` counted it before this breaker replaced opossum.
 */
function verdictOf(error: unknown): BreakerVerdict {
  return error instanceof AttemptFailedError ? error.failure.breaker : 'success';
}

/** A fleet view's counters as a breaker's (a field nobody counted yet is 0). */
function breakerCountsOf(counts: Readonly<Record<string, number>>): BreakerCounts {
  return {
    fires: counts.fires ?? 0,
    successes: counts.successes ?? 0,
    failures: counts.failures ?? 0,
    rejects: counts.rejects ?? 0,
  };
}

const TRANSITION_EVENT = {
  open: 'breaker-open',
  'half-open': 'breaker-half-open',
  close: 'breaker-close',
} as const satisfies Record<BreakerTransition, string>;

/**
 * One breaker per route key, created on first use. Each is a plain state object
 * ({@link BreakerMachineState}) moved by the transition functions of `breaker-machine.ts` on the
 * injected clock's `now`: no timer at all, so an idle guard holds none, a manual clock drives every
 * transition, and on Cloudflare Workers (where a timer set during one request never fires after
 * it) an opened breaker still reaches half-open. Open becomes half-open when something asks after
 * `resetTimeout` (a call, `state`, a snapshot), and `breaker-half-open` is emitted then.
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

  constructor(
    private readonly clock: Clock,
    private readonly events: GuardEvents,
    /** Fleet mode: shares every breaker through a store; `undefined` for a process on its own. */
    private readonly fleet?: FleetSync,
  ) {}

  get(key: string, route: string, options: Required<Omit<BreakerOptions, 'key'>>): RouteBreaker {
    let breaker = this.#breakers.get(key);
    if (!breaker) {
      breaker = new RouteBreaker(key, options, this.clock, this.events, this.fleet);
      this.#breakers.set(key, breaker);
      if (this.fleet && options.enabled) this.fleet.add(breaker);
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

  /** False while the fleet's store is away; always true without one. */
  get storeConnected(): boolean {
    return this.fleet?.connected ?? true;
  }

  /** @internal One fleet sync now (tests drive the fleet with it); resolves at once without a store. */
  syncFleet(): Promise<void> {
    return this.fleet?.sync() ?? Promise.resolve();
  }

  /** Forgets every breaker, and stops the fleet's sync timer (the only timer breakers have). */
  close(): void {
    this.fleet?.close();
    this.#breakers.clear();
  }
}

/**
 * One route key's breaker: its state object, the clock that moves it, and the events it emits.
 *
 * @example
 * ```ts
 * const breaker = registry.get('chat', 'chat', config.breaker);
 * if (breaker.state === 'open') console.log(`retry in ${breaker.retryAfterMs()} ms`);
 * ```
 */
export class RouteBreaker implements FleetMember {
  readonly routes = new Set<string>();
  readonly #machine: BreakerMachineState;
  /** The last sync's view of the fleet; `undefined` alone or while the store is away. */
  #fleetView: FleetView | undefined;
  /** The other replicas' window counts of that view, made once per sync: every settle adds them. */
  #elsewhere: BreakerCounts | undefined;
  /** Half-open: another replica holds the fleet's trial; calls are rejected without asking until then. */
  #trialElsewhereUntil = 0;

  constructor(
    readonly key: string,
    readonly options: Required<Omit<BreakerOptions, 'key'>>,
    private readonly clock: Clock,
    private readonly events: GuardEvents,
    private readonly fleet?: FleetSync,
  ) {
    this.#machine = initialBreakerState(clock.now(), options);
  }

  /** @internal For the fleet sync. */
  readonly hints = true;

  /** @internal For the fleet sync: this breaker's keys in the store. */
  get storeKey(): string {
    return `breaker:${this.key}`;
  }

  /** @internal For the fleet sync. */
  get bucketMs(): number {
    return this.options.rollingCountTimeout / this.options.rollingCountBuckets;
  }

  /** @internal For the fleet sync. */
  get windowMs(): number {
    return this.options.rollingCountTimeout;
  }

  /** @internal For the fleet sync: the window at `now`, each bucket with its absolute number. */
  windowAt(now: number): { bucket: number; counts: BreakerCounts }[] {
    this.#advance(now);
    const window = this.#machine.window;
    const first = this.#machine.bucket - window.length + 1;
    return window.map((counts, i) => ({ bucket: first + i, counts }));
  }

  /** @internal For the fleet sync: the fleet's counts and hints drive this breaker (open, close). */
  applyFleet(view: FleetView | undefined): void {
    this.#fleetView = view;
    this.#elsewhere = view && breakerCountsOf(view.elsewhere);
    if (view === undefined) return;
    this.#advance(this.clock.now());
    const moved =
      view.closedAfter > 0 && view.closedAfter >= view.openedAt
        ? closeBreakerAfter(this.#machine, view.closedAfter)
        : view.openedAt > 0
          ? openBreakerAt(this.#machine, view.openedAt)
          : undefined;
    if (moved) this.events.emit({ type: TRANSITION_EVENT[moved], key: this.key });
    if (moved === 'open') this.#advance(this.clock.now());
  }

  get state(): BreakerState {
    // Closed stays closed however long nobody asks: only a verdict opens it, so no clock read.
    if (this.#machine.state !== 'closed') this.#advance(this.clock.now());
    return this.#machine.state;
  }

  /** Milliseconds until a trial is let through; 0 when closed. */
  retryAfterMs(): number {
    if (this.#machine.state === 'closed') return 0;
    const now = this.clock.now();
    this.#advance(now);
    return breakerRetryAfterMs(this.#machine, now, this.options);
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
    if (!this.options.enabled) return work();
    const machine = this.#machine;
    let trial = 0;
    // The closed fast path: nothing to decide (closed runs every call) and no clock read until the verdict.
    if (machine.state !== 'closed') {
      const now = this.clock.now();
      this.#advance(now);
      const admission = admitToBreaker(machine, options.budgetMs ?? Infinity, this.options);
      if (admission === 'reject' || admission === 'refuse') {
        throw new BreakerOpenError(this.key, breakerRetryAfterMs(machine, now, this.options));
      }
      if (admission === 'trial') {
        trial = machine.trial;
        if (this.fleet && !(await this.#fleetTrial(trial, now))) {
          throw new BreakerOpenError(this.key, breakerRetryAfterMs(machine, now, this.options));
        }
      }
    }
    let value: T;
    try {
      value = await work();
    } catch (error) {
      this.#settle(verdictOf(error), trial);
      throw error;
    }
    this.#settle('success', trial);
    return value;
  }

  snapshot(): BreakerSnapshot {
    const now = this.clock.now();
    this.#advance(now);
    const machine = this.#machine;
    return {
      key: this.key,
      routes: [...this.routes],
      state: machine.state,
      retryAfterMs: breakerRetryAfterMs(machine, now, this.options),
      counts: { ...breakerCounts(machine), neutral: machine.neutral },
      ...(this.fleet ? { fleetCounts: this.#fleetView && breakerCountsOf(this.#fleetView.fleet) } : {}),
      options: this.options,
    };
  }

  publicSnapshot(): PublicBreakerStatus {
    return { key: this.key, state: this.state, retryAfterSeconds: Math.ceil(this.retryAfterMs() / 1000) };
  }

  /** A call is counted in the window in which it is judged, not the one in which it started. */
  #settle(verdict: BreakerVerdict, trial: number): void {
    const now = this.clock.now();
    this.#advance(now);
    const openedAt = this.#machine.openedAt;
    const moved = settleInBreaker(this.#machine, verdict, trial, now, this.options, this.#elsewhere);
    if (moved) this.events.emit({ type: TRANSITION_EVENT[moved], key: this.key });
    if (!this.fleet) return;
    if (trial !== 0) this.fleet.trialSettled(this.key, trial, verdict, openedAt, this.options.resetTimeout);
    if (moved === 'open') this.fleet.opened(this.key, this.#machine.openedAt, this.options.resetTimeout);
  }

  /**
   * Half-open in a fleet: this call took the local trial slot; it is the trial only if it also gets
   * the fleet's lease. Another replica's lease: a reject, and no more asking for one sync interval.
   * The store away: the local trial goes on, as without a fleet.
   */
  async #fleetTrial(trial: number, now: number): Promise<boolean> {
    const fleet = this.fleet;
    if (fleet === undefined) return true;
    const granted =
      now < this.#trialElsewhereUntil ? false : await fleet.acquireTrial(this.key, trial, this.options.resetTimeout);
    if (granted !== false) return true;
    if (now >= this.#trialElsewhereUntil) this.#trialElsewhereUntil = this.clock.now() + fleet.syncIntervalMs;
    denyTrial(this.#machine, trial);
    return false;
  }

  #advance(now: number): void {
    if (advanceBreaker(this.#machine, now, this.options) === 'half-open') {
      this.events.emit({ type: 'breaker-half-open', key: this.key });
    }
  }
}

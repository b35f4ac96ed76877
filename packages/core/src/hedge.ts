import { AttemptFailedError } from './breaker-registry.js';
import { classifyFailure } from './classify.js';
import type { Clock, TimerHandle } from './clock.js';
import type { RequestRecord } from './request-record.js';
import type { RetryBudget } from './retry-budget.js';
import type { AttemptBreaker, AttemptContext, PolicyEvents } from './retry-loop.js';

export { HEDGE_DEFAULTS, type HedgeOptions, type NormalizedHedge } from './hedge-options.js';
import type { NormalizedHedge } from './hedge-options.js';

/**
 * One attempt of a hedged pair, as the hedge sees it.
 *
 * @example
 * ```ts
 * const leg: HedgeLeg<Handle> = { first: ready, answer: ready, done: ready.then((h) => h.finished), discard: (h) => h.close() };
 * ```
 */
export interface HedgeLeg<T> {
  /** Resolves at the leg's first valid event (streams) or its 2xx response headers (non-streaming); rejects when it fails first. */
  readonly first: Promise<unknown>;
  /** The leg's answer. */
  readonly answer: Promise<T>;
  /** Settles when the leg's upstream exchange is over (its signal is unlinked then). */
  readonly done: Promise<unknown>;
  /** Releases an answer that arrived for a leg that had already lost (a stream's open connection). */
  readonly discard?: ((answer: T) => void) | undefined;
}

/**
 * The reason a losing leg is aborted with: it proves nothing about the upstream (neutral), and it is
 * never what a client is told.
 */
export class HedgeLostError extends Error {
  override readonly name = 'HedgeLostError';
  constructor() {
    super('Aborted: another attempt of the same request answered first');
  }
}

/** A request's own hedge count: at most `maxHedges` whatever the attempts. */
export interface HedgeState {
  hedges: number;
}

/** What a hedged attempt reports into: the request's id, its attempt count, its hedge count. */
export interface HedgeCall {
  readonly record: Pick<RequestRecord, 'requestId' | 'attemptStarted'>;
  readonly state: HedgeState;
}

// Enough samples for a steady p95 (25 above it), few enough to sort now and then.
const WINDOW = 512;
const RECOMPUTE_EVERY = 32;

/**
 * A route's recent times to first event (each attempt's own, from its start), in a fixed ring: the
 * p95 is recomputed every few samples, never per request.
 */
export class FirstEventTimes {
  readonly #samples = new Float64Array(WINDOW);
  #count = 0;
  #next = 0;
  #sinceRecompute = 0;
  #p95: number | undefined;

  get count(): number {
    return this.#count;
  }

  record(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % WINDOW;
    if (this.#count < WINDOW) this.#count += 1;
    this.#sinceRecompute += 1;
    // Early on every sample moves the percentile a lot: recompute each time until the ring has a few.
    if (this.#sinceRecompute >= RECOMPUTE_EVERY || this.#count <= RECOMPUTE_EVERY) this.#p95 = undefined;
  }

  /** The 95th percentile of the window (nearest rank); `undefined` when empty. */
  p95(): number | undefined {
    if (this.#count === 0) return undefined;
    if (this.#p95 === undefined) {
      const sorted = this.#samples.slice(0, this.#count).sort();
      this.#p95 = sorted[Math.min(this.#count - 1, Math.ceil(0.95 * this.#count) - 1)]!;
      this.#sinceRecompute = 0;
    }
    return this.#p95;
  }

  /** The mean of the samples longer than `ms`; `undefined` when none is. */
  meanAbove(ms: number): number | undefined {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < this.#count; i++) {
      const sample = this.#samples[i]!;
      if (sample > ms) {
        sum += sample;
        n += 1;
      }
    }
    return n === 0 ? undefined : sum / n;
  }
}

/**
 * Everything a route's hedge works with, given once when the route is mounted.
 *
 * @example
 * ```ts
 * new Hedger({ route: 'chat', stream: true, options, clock, budget, breaker, events, countRateLimits: false, secrets: [] });
 * ```
 */
export interface HedgerOptions {
  readonly route: string;
  /** Streams (first event) or non-streaming calls (response headers): named in events, timed apart. */
  readonly stream: boolean;
  readonly options: NormalizedHedge;
  readonly clock: Clock;
  readonly budget: RetryBudget | undefined;
  /** The route's breaker: told a losing leg's own failure; no hedge unless it is closed. */
  readonly breaker: AttemptBreaker | undefined;
  readonly events: PolicyEvents;
  readonly countRateLimits: boolean;
  readonly secrets: readonly string[];
}

const noop = (): void => {};

/** A leg's signal: its own controller, aborted with its attempt's signal or when the leg loses. */
class LegAbort {
  readonly controller = new AbortController();
  readonly #parent: AbortSignal;
  readonly #listener = (): void => this.controller.abort(this.#parent.reason);

  constructor(parent: AbortSignal) {
    this.#parent = parent;
    if (parent.aborted) this.controller.abort(parent.reason);
    else parent.addEventListener('abort', this.#listener, { once: true });
  }

  detach(): void {
    this.#parent.removeEventListener('abort', this.#listener);
  }
}

interface Launched<T> {
  readonly leg: HedgeLeg<T>;
  readonly abort: LegAbort;
  readonly startedAt: number;
  failed: boolean;
}

/**
 * A route's hedge (one for its streams, one for its non-streaming calls). The retry policy sees one
 * attempt whose answer is the winner's; its breaker is given the winner's verdict, and a leg that
 * failed on its own (not for losing) is told to the breaker separately, so it sees both outcomes. A
 * leg aborted because the other answered first is neutral: it proves nothing.
 *
 * @example
 * ```ts
 * const answer = await hedger.run((context) => leg(context), context, { record, state: { hedges: 0 } });
 * ```
 */
export class Hedger {
  readonly #options: HedgerOptions;
  readonly times = new FirstEventTimes();

  constructor(options: HedgerOptions) {
    this.#options = options;
  }

  /** The wait before a hedge, now: fixed, or the observed p95 once there are enough samples. */
  delayMs(): number {
    const { delay, initialDelayMs, minSamples } = this.#options.options;
    if (delay !== 'p95') return delay;
    return this.times.count >= minSamples ? (this.times.p95() ?? initialDelayMs) : initialDelayMs;
  }

  /**
   * Runs one attempt, hedged when its first event is late and the request may still hedge.
   *
   * @param start - Starts one leg on the signal and timeout it is given.
   * @param context - The attempt's context from the retry policy.
   * @param call - The request's record and hedge count.
   * @returns The winning leg's answer.
   */
  run<T>(start: (context: AttemptContext) => HedgeLeg<T>, context: AttemptContext, call: HedgeCall): Promise<T> {
    const { clock, breaker, options } = this.#options;
    const startedAt = clock.now();
    if (call.state.hedges >= options.maxHedges || (breaker !== undefined && breaker.state !== 'closed')) {
      // No hedge possible: the attempt as it is, only timed for the route's percentile.
      const leg = start(context);
      leg.first.then(() => this.times.record(clock.now() - startedAt), noop);
      return leg.answer;
    }
    return new HedgedAttempt(this, this.#options, start, context, call, startedAt).promise;
  }

  /** Tells the breaker a leg's own failure (not a loss), as after a stream's commit: into a closed breaker only. */
  recordLegFailure(error: unknown, context: AttemptContext): void {
    const { breaker, countRateLimits, clock, secrets } = this.#options;
    if (!breaker || breaker.state !== 'closed' || error instanceof HedgeLostError) return;
    const failure = classifyFailure(error, { deadline: context.deadline, countRateLimits, now: clock.now, secrets });
    if (failure.breaker !== 'failure') return;
    breaker.execute(() => Promise.reject(new AttemptFailedError(failure)), {}).catch(noop);
  }
}

/** One hedged attempt: the first leg, a timer, perhaps a second leg, and the first answer. */
class HedgedAttempt<T> {
  readonly promise: Promise<T>;
  readonly #hedger: Hedger;
  readonly #options: HedgerOptions;
  readonly #start: (context: AttemptContext) => HedgeLeg<T>;
  readonly #context: AttemptContext;
  readonly #call: HedgeCall;
  readonly #startedAt: number;
  readonly #delayMs: number;
  #resolve!: (value: T | Promise<T>) => void;
  #reject!: (reason: unknown) => void;
  readonly #primary: Launched<T>;
  #hedge: Launched<T> | undefined;
  #timer: TimerHandle | undefined;
  #decided = false;

  constructor(
    hedger: Hedger,
    options: HedgerOptions,
    start: (context: AttemptContext) => HedgeLeg<T>,
    context: AttemptContext,
    call: HedgeCall,
    startedAt: number,
  ) {
    this.#hedger = hedger;
    this.#options = options;
    this.#start = start;
    this.#context = context;
    this.#call = call;
    this.#startedAt = startedAt;
    this.#delayMs = hedger.delayMs();
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#primary = this.#launch(context.timeout);
    if (!this.#decided && !this.#primary.failed) {
      this.#timer = options.clock.setTimeout(() => this.#onDelay(), this.#delayMs);
    }
  }

  #launch(timeout: number): Launched<T> {
    const abort = new LegAbort(this.#context.signal);
    let leg: HedgeLeg<T>;
    const launched = { abort, startedAt: this.#options.clock.now(), failed: false } as Launched<T> & {
      leg: HedgeLeg<T>;
    };
    try {
      leg = this.#start({ ...this.#context, signal: abort.controller.signal, timeout });
    } catch (error) {
      abort.detach();
      const failed = Promise.reject(error);
      leg = { first: failed, answer: failed, done: failed };
    }
    launched.leg = leg;
    leg.answer.catch(noop);
    leg.done.then(
      () => abort.detach(),
      () => abort.detach(),
    );
    leg.first.then(
      () => this.#onFirst(launched),
      (error: unknown) => this.#onFail(launched, error),
    );
    return launched;
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #onDelay(): void {
    this.#timer = undefined;
    const { budget, events, route, stream, clock } = this.#options;
    if (this.#decided || this.#primary.failed || this.#context.signal.aborted) return;
    // No budget, no hedge: a hedge is extra load, like a retry.
    if (budget && !budget.tryWithdraw()) return;
    this.#call.state.hedges += 1;
    this.#call.record.attemptStarted();
    if (events.active) {
      events.emit({
        type: 'hedge-started',
        route,
        requestId: this.#call.record.requestId,
        stream,
        delayMs: this.#delayMs,
      });
    }
    const elapsed = clock.now() - this.#startedAt;
    const left = Math.min(this.#context.timeout - elapsed, this.#context.deadline.remaining());
    this.#hedge = this.#launch(Math.max(1, Math.ceil(left)));
  }

  #other(leg: Launched<T>): Launched<T> | undefined {
    return leg === this.#primary ? this.#hedge : this.#primary;
  }

  #onFirst(leg: Launched<T>): void {
    if (this.#decided) {
      // Answered after the other one won: closed at once.
      this.#lose(leg);
      return;
    }
    this.#decided = true;
    this.#clearTimer();
    const { clock, events, route, stream } = this.#options;
    const now = clock.now();
    this.#hedger.times.record(now - leg.startedAt);
    const other = this.#other(leg);
    if (other && !other.failed) this.#lose(other);
    if (this.#hedge && events.active) {
      const won = leg === this.#hedge;
      const waited = now - this.#startedAt;
      const longer = won ? this.#hedger.times.meanAbove(waited) : undefined;
      events.emit({
        type: won ? 'hedge-won' : 'hedge-lost',
        route,
        requestId: this.#call.record.requestId,
        stream,
        firstEventMs: waited,
        savedMs: won ? (longer === undefined ? undefined : Math.round(longer - waited)) : 0,
      });
    }
    this.#resolve(leg.leg.answer);
  }

  /** Aborts a leg that lost; an answer it still brings is released. */
  #lose(leg: Launched<T>): void {
    leg.abort.controller.abort(new HedgeLostError());
    const discard = leg.leg.discard;
    if (discard) leg.leg.answer.then(discard, noop);
  }

  #onFail(leg: Launched<T>, error: unknown): void {
    leg.failed = true;
    if (this.#decided) return;
    const other = this.#other(leg);
    if (other && !other.failed) {
      // The other leg may still answer: this failure is told to the breaker on its own.
      this.#hedger.recordLegFailure(error, this.#context);
      return;
    }
    // Nothing left in flight (the first leg failed before any hedge, or both failed): the attempt failed.
    this.#decided = true;
    this.#clearTimer();
    this.#reject(error);
  }
}

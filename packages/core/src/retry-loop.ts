import type { Backoff } from './backoff.js';
import { AttemptFailedError, BreakerOpenError, type BreakerState } from './breaker-registry.js';
import { classifyFailure, type AttemptFailure, type ClassifyContext } from './classify.js';
import { sleep, withTimeout, type Clock } from './clock.js';
import {
  deadlineAbortReason,
  offDeadlineAbort,
  onDeadlineAbort,
  type Deadline,
  type DeadlineListener,
} from './deadline.js';
import { redactSecrets } from './error-body.js';
import type { GuardEvent } from './events.js';
import { breakerOpenError, wordFailure } from './failure-wording.js';
import type { ClaudeGuardError, FailureOutcome } from './guard-error.js';
import type { RequestRecord } from './request-record.js';
import type { RetryBudget } from './retry-budget.js';
import { borrowController, releaseController } from './signal-pool.js';
import { AttemptTimeoutError } from './upstream-errors.js';

/**
 * What one attempt is given: forward `signal` and `timeout` to the SDK call so that the
 * deadline and client disconnects abort the upstream request itself.
 *
 * @example
 * ```ts
 * await guard.run('summarize', ({ signal, timeout }) =>
 *   client.messages.create(params, { signal, timeout, maxRetries: 0 }));
 * ```
 */
export interface AttemptContext {
  /** Aborts at the deadline, on client disconnect, or at the route's attempt timeout. */
  signal: AbortSignal;
  /** Milliseconds this attempt may take (for the SDK's `timeout`). */
  timeout: number;
  /** 0 for the first attempt. */
  attempt: number;
  deadline: Deadline;
}

/**
 * An attempt that may answer (`ready`) before it is over (`done`): a stream commits at its first
 * event and goes on. `ready` is the breaker's verdict: its resolution is the attempt's success (a
 * valid first event is proof of health), given at once; a failure of `done` after that is upstream
 * ill health found later, recorded on its own.
 */
export interface StartedAttempt<T> {
  ready: Promise<T>;
  done: Promise<unknown>;
}

/** Starts one attempt: a plain promise is an attempt that answers when it is over. */
export type AttemptStarter<T> = (context: AttemptContext) => Promise<T> | StartedAttempt<T>;

/** How the policy may treat the attempts it starts. */
export interface AttemptTraits {
  /** The attempt stops by itself when its signal aborts (our own SDK calls do; a caller's fn may not). */
  honoursSignal: boolean;
}

/** Our own SDK calls: they stop when their signal aborts. */
export const SDK_CALL: AttemptTraits = Object.freeze({ honoursSignal: true });
/** A caller's fn in `run()`: it may not stop when its signal aborts. */
export const CALLER_CODE: AttemptTraits = Object.freeze({ honoursSignal: false });

/** The breaker as the policy uses it: one call at a time, told the time its request has left. */
export interface AttemptBreaker {
  readonly state: BreakerState;
  /** Runs `work`; throws `BreakerOpenError` when refused. `work` throws `AttemptFailedError` for failures. */
  execute<T>(work: () => Promise<T>, options: { budgetMs?: number }): Promise<T>;
}

/** Where the policy's events go: anything with `active` and `emit` (the guard's event hub). */
export interface PolicyEvents {
  readonly active: boolean;
  emit(event: GuardEvent): void;
}

/**
 * Everything a route's retry policy works with, given once when the route is mounted.
 *
 * @example
 * ```ts
 * const policy = new RetryPolicy({ route: 'chat', maxAttempts: 3, backoff, budget, breaker, events, clock,
 *   attemptTimeoutMs: undefined, countRateLimits: false, secrets: [], forwardClientErrors: false });
 * ```
 */
export interface RetryPolicyOptions {
  /** Named in events and error messages. */
  readonly route: string;
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** The wait before retry `attempt + 1` (a pure function: no timer). */
  readonly backoff: Backoff;
  /** Shared by every route of the guard; `undefined`: no budget. */
  readonly budget: RetryBudget | undefined;
  /** The route's breaker; `undefined`: none. */
  readonly breaker: AttemptBreaker | undefined;
  readonly events: PolicyEvents;
  readonly clock: Clock;
  /** The route's own limit per attempt; `undefined`: each attempt may use all the time left. */
  readonly attemptTimeoutMs: number | undefined;
  /** Count 429s as upstream ill health (for the breaker's verdict). */
  readonly countRateLimits: boolean;
  /** Kept out of upstream ids and messages. */
  readonly secrets: readonly string[];
  /** Pass an upstream 4xx message (redacted) to the client: the passthrough's choice. */
  readonly forwardClientErrors: boolean;
}

/** The only per-call state the policy is given: the request's deadline and its record. */
export interface RetryCall {
  readonly deadline: Deadline;
  readonly record: Pick<RequestRecord, 'requestId' | 'attemptStarted' | 'upstreamIdentified' | 'failed'>;
}

type GiveUpReason = 'not-transient' | 'attempts-exhausted' | 'wait-exceeds-deadline' | 'retry-budget';

const noop = (): void => {};
const attemptTimedOut = (ms: number): AttemptTimeoutError => new AttemptTimeoutError(ms);
// A fresh pending promise per use: a shared one would collect a reaction on every use (each
// failed or breaker-refused attempt) and keep alive everything those reactions reach.
const never = <T = never>(): Promise<T> => new Promise<T>(noop);

/**
 * A route's retry policy, built once per route from explicit collaborators (attempt limit, backoff,
 * budget, breaker, events, clock, attempt timeout): it runs attempts until one answers, the failure
 * is not transient, attempts or the retry budget run out, or the next wait would not fit in the
 * deadline. Outermost first: deadline -> this policy (with budget) -> breaker -> one attempt. The
 * only per-call state is the request's deadline and record, handed to {@link RetryPolicy.execute}.
 *
 * @example
 * ```ts
 * const message = await policy.execute(({ signal, timeout }) =>
 *   client.messages.create(params, { signal, timeout, maxRetries: 0 }), { deadline, record }, SDK_CALL);
 * ```
 */
export class RetryPolicy {
  readonly #options: RetryPolicyOptions;

  constructor(options: RetryPolicyOptions) {
    this.#options = options;
  }

  /**
   * Runs `start` under the policy. Resolves with the first attempt that answers; rejects with the
   * sanitized {@link ClaudeGuardError} for the last failure (worded before a commit), or the
   * breaker's 503. Reports attempts, upstream ids and the failure that ended it into the record.
   *
   * @param start - Starts one attempt; forward its `signal` and `timeout`.
   * @param call - The request's deadline and record.
   * @param traits - Whether the attempts stop by themselves when their signal aborts.
   */
  execute<T>(start: AttemptStarter<T>, call: RetryCall, traits: AttemptTraits = CALLER_CODE): Promise<T> {
    this.#options.budget?.recordRequest();
    // The first attempt runs outside any async frame: most calls answer at once, and an async
    // function holding the retry loop's locals costs about half a kilobyte per call. A failure
    // goes on in #retrying, which takes the first attempt's error as if its loop had caught it.
    const deadline = call.deadline;
    const aborted = deadlineAbortReason(deadline);
    if (aborted) return this.#rejectWith(() => this.#final(call, 0, this.#classify(aborted, deadline)));
    let first: Promise<T>;
    try {
      first = this.#runOne(call, 0, start, traits);
    } catch (error) {
      first = Promise.reject(error);
    }
    return first.then(undefined, (error: unknown) => this.#retrying(start, call, traits, error));
  }

  /** A rejection with what `fail` throws or returns, as an async function's `throw` would give. */
  #rejectWith<T>(fail: () => unknown): Promise<T> {
    try {
      return Promise.reject(fail());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The retry loop, from the first attempt's failure: classifies it, then retries while the
   * failure is transient and attempts, the retry budget and the deadline allow.
   */
  async #retrying<T>(
    start: AttemptStarter<T>,
    call: RetryCall,
    traits: AttemptTraits,
    firstError: unknown,
  ): Promise<T> {
    const { budget, events, route, maxAttempts, backoff, clock } = this.#options;
    const { deadline, record } = call;
    let error = firstError;
    // Upstream attempts this execution made: named in the answer ("3 attempts") and its events.
    for (let attempt = 0; ; attempt++) {
      const attempts = attempt + 1;
      if (error instanceof BreakerOpenError) {
        events.emit({ type: 'breaker-rejected', route, key: error.key, requestId: record.requestId });
        throw breakerOpenError(route, error.retryAfterMs);
      }
      const failure = error instanceof AttemptFailedError ? error.failure : this.#classify(error, deadline);
      record.upstreamIdentified(failure.upstreamRequestId);
      if (events.active) {
        events.emit({
          type: 'attempt-failed',
          route,
          requestId: record.requestId,
          attempt,
          kind: failure.kind,
          status: failure.status,
          transient: failure.transient,
          upstreamMessage:
            failure.upstreamMessage === undefined
              ? undefined
              : redactSecrets(failure.upstreamMessage, this.#options.secrets),
          errorCode: failure.errorCode,
        });
      }
      if (failure.kind === 'deadline') {
        // Also when the SDK's own timeout (the time left) fired a hair before the deadline's timer.
        if (events.active) {
          events.emit({
            type: 'deadline-exceeded',
            route,
            requestId: record.requestId,
            source: deadline.source,
            budgetMs: deadline.budgetMs,
          });
        }
        throw this.#final(call, attempts, failure);
      }
      if (!failure.transient) {
        this.#giveUp(call, attempts, 'not-transient');
        throw this.#final(call, attempts, failure);
      }
      if (attempt + 1 >= maxAttempts) {
        this.#giveUp(call, attempts, 'attempts-exhausted');
        throw this.#final(call, attempts, failure);
      }
      const delayMs = failure.retryAfterMs ?? backoff(attempt);
      if (delayMs >= deadline.remaining()) {
        this.#giveUp(call, attempts, 'wait-exceeds-deadline');
        throw this.#final(call, attempts, failure);
      }
      if (budget && !budget.tryWithdraw()) {
        events.emit({ type: 'retry-budget-rejected', route, requestId: record.requestId });
        this.#giveUp(call, attempts, 'retry-budget');
        throw this.#final(call, attempts, failure, 'retry-budget-exhausted');
      }
      if (events.active) {
        events.emit({ type: 'retry', route, requestId: record.requestId, attempt: attempt + 1, delayMs });
      }
      try {
        await sleep(clock, delayMs, deadline.signal);
      } catch (reason) {
        throw this.#final(call, attempts, this.#classify(reason, deadline));
      }
      const aborted = deadlineAbortReason(deadline);
      if (aborted) throw this.#final(call, attempts, this.#classify(aborted, deadline));
      try {
        return await this.#runOne(call, attempt + 1, start, traits);
      } catch (next) {
        error = next;
      }
    }
  }

  #classify(error: unknown, deadline: Deadline): AttemptFailure {
    return classifyFailure(error, this.#classifyContext(deadline));
  }

  #classifyContext(deadline: Deadline): ClassifyContext {
    const { countRateLimits, clock, secrets } = this.#options;
    return { deadline, countRateLimits, now: clock.now, secrets };
  }

  #giveUp(call: RetryCall, attempts: number, reason: GiveUpReason): void {
    const { events, route } = this.#options;
    if (!events.active) return;
    events.emit({ type: 'give-up', route, requestId: call.record.requestId, attempts, reason });
  }

  /** The failure that ends the call: recorded, then worded for the client (nothing was sent yet). */
  #final(call: RetryCall, attempts: number, failure: AttemptFailure, outcome?: FailureOutcome): ClaudeGuardError {
    const { route, forwardClientErrors, secrets } = this.#options;
    call.record.failed(failure);
    return wordFailure(failure, { phase: 'before-commit', route, attempts, forwardClientErrors, secrets, outcome });
  }

  #runOne<T>(call: RetryCall, attempt: number, start: AttemptStarter<T>, traits: AttemptTraits): Promise<T> {
    const { attemptTimeoutMs, breaker, events, route } = this.#options;
    const { deadline, record } = call;
    const remaining = deadline.remaining();
    // The route's own limit only when it is shorter than what is left; otherwise the deadline rules.
    const ownTimeout = attemptTimeoutMs !== undefined && attemptTimeoutMs < remaining ? attemptTimeoutMs : undefined;
    const timeout = Math.max(1, Math.ceil(ownTimeout ?? remaining));
    if (events.active) {
      events.emit({ type: 'attempt', route, requestId: record.requestId, attempt, timeoutMs: timeout });
    }
    // An attempt needs its own signal only to be cut short before the deadline (its own timeout)
    // or stopped when it ignores the signal; otherwise a borrowed one that aborts with the deadline.
    const work =
      ownTimeout === undefined && traits.honoursSignal
        ? () => this.#onDeadlineSignal(call, attempt, timeout, start)
        : () => this.#onOwnSignal(call, attempt, timeout, ownTimeout, start, traits);
    // The time left decides whether this attempt may be a half-open breaker's trial.
    return breaker ? breaker.execute(work, { budgetMs: remaining }) : work();
  }

  /**
   * The hot path: an SDK call of ours, which stops at its signal and keeps it no longer than the
   * call. Its signal is a borrowed one (see signal-pool.ts) that aborts with the deadline.
   */
  #onDeadlineSignal<T>(call: RetryCall, attempt: number, timeout: number, start: AttemptStarter<T>): Promise<T> {
    const { deadline, record } = call;
    record.attemptStarted();
    const borrowed = new BorrowedSignal(deadline);
    let started: Promise<T> | StartedAttempt<T>;
    try {
      started = start({ signal: borrowed.signal, timeout, attempt, deadline });
    } catch (error) {
      borrowed.release();
      return this.#rejectWith(() => new AttemptFailedError(this.#classify(error, deadline)));
    }
    // A stream keeps the signal until it is over (`done`).
    if ('ready' in started) return this.#committing(started, started.done, deadline, borrowed);
    // A plain promise answers when it is over: its verdict is its outcome. Handlers, not an async
    // frame: this runs once per SDK call.
    return started.then(
      (value) => {
        borrowed.release();
        return value;
      },
      (error: unknown) => {
        borrowed.release();
        throw new AttemptFailedError(this.#classify(error, deadline));
      },
    );
  }

  /**
   * An attempt with a signal of its own (made only if the attempt reads it), stopped at the
   * deadline, at the route's attempt timeout, or when the attempt fails; a caller's fn that ignores
   * its signal still ends at the deadline or disconnect.
   */
  async #onOwnSignal<T>(
    call: RetryCall,
    attempt: number,
    timeout: number,
    ownTimeout: number | undefined,
    start: AttemptStarter<T>,
    traits: AttemptTraits,
  ): Promise<T> {
    const { deadline, record } = call;
    const { clock } = this.#options;
    record.attemptStarted();
    const own = new AttemptAbort(deadline);
    const context: AttemptContext = {
      get signal() {
        return own.signal;
      },
      timeout,
      attempt,
      deadline,
    };
    let started: Promise<T> | StartedAttempt<T>;
    let stream: StartedAttempt<T> | undefined;
    try {
      started = start(context);
      // A plain promise answers when it is over; a started attempt may answer (commit) first.
      if ('ready' in started) stream = started;
    } catch (error) {
      own.release();
      throw new AttemptFailedError(this.#classify(error, deadline));
    }
    let done: Promise<unknown> = stream ? stream.done : (started as Promise<T>);
    if (ownTimeout !== undefined) done = withTimeout(clock, done, ownTimeout, attemptTimedOut);
    // A caller's fn that ignores the signal still ends at the deadline or disconnect.
    if (!traits.honoursSignal) done = Promise.race([done, own.stopped()]);
    if (stream) return this.#committing(stream, done, deadline, own);
    try {
      // `done` settles as the attempt did (or with the timeout's or the deadline's reason).
      return (await done) as T;
    } catch (error) {
      own.stop(error);
      throw new AttemptFailedError(this.#classify(error, deadline));
    } finally {
      own.release();
    }
  }

  /**
   * A stream answers (`ready`, its commit) before it is over (`done`). A valid first event is proof
   * of health: the verdict is given at the commit, so a half-open breaker is released there, never
   * held for as long as the stream lasts or its client takes to read it.
   */
  #committing<T>(
    started: StartedAttempt<T>,
    done: Promise<unknown>,
    deadline: Deadline,
    own: AttemptSignal,
  ): Promise<T> {
    const ready = started.ready;
    ready.catch(noop); // its failure is reported through `done`, classified
    const settled = (async () => {
      try {
        await done;
      } catch (error) {
        own.stop(error);
        throw new AttemptFailedError(this.#classify(error, deadline));
      } finally {
        own.release();
      }
    })();
    let committed = false;
    ready.then(() => {
      committed = true;
    }, noop);
    settled.catch((error: unknown) => {
      if (committed && error instanceof AttemptFailedError) this.#recordAfterCommit(error.failure);
    });
    return Promise.race([onlyResolution(ready), settled.then(() => ready)]);
  }

  /**
   * Upstream ill health found in a stream after its commit (an in-band error, a malformed or stalled
   * stream, a lost connection): the attempt's verdict was given at the commit, so this is recorded on
   * its own, into a closed breaker's window only: an open breaker needs no more evidence, and a
   * half-open one's trial belongs to another call. The deadline or the route's attempt timeout
   * running out after the commit is not recorded: that time may have gone to a slow reader.
   */
  #recordAfterCommit(failure: AttemptFailure): void {
    const breaker = this.#options.breaker;
    if (!breaker || breaker.state !== 'closed' || failure.breaker !== 'failure') return;
    if (failure.kind === 'deadline' || failure.kind === 'attempt-timeout') return;
    breaker.execute(() => Promise.reject(new AttemptFailedError(failure)), {}).catch(noop);
  }
}

/** An attempt's signal as the policy handles it: stopped when the attempt fails, released when it is over. */
interface AttemptSignal {
  stop(reason: unknown): void;
  release(): void;
}

/**
 * The signal of an SDK call of ours: a borrowed controller (no `AbortSignal` built per call once the
 * pool is warm), aborted by the deadline through a listener on it, given back when the call is over.
 */
class BorrowedSignal implements AttemptSignal {
  readonly #controller = borrowController();
  readonly #deadline: Deadline;
  readonly #listener: DeadlineListener = (reason) => this.#controller.abort(reason);
  #released = false;

  constructor(deadline: Deadline) {
    this.#deadline = deadline;
    const reason = onDeadlineAbort(deadline, this.#listener);
    if (reason) this.#controller.abort(reason);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** A failed SDK call has stopped by itself: nothing to abort. */
  stop(): void {}

  /** Once: a controller given back twice could be lent to two calls at a time. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    offDeadlineAbort(this.#deadline, this.#listener);
    releaseController(this.#controller);
  }
}

/**
 * An attempt's own abort: its `AbortController` is made only if the attempt reads its signal, and is
 * aborted (or born aborted) once the attempt is stopped: by the deadline (heard through a listener
 * on it, not through its signal), at the route's attempt timeout, or by the attempt's own failure.
 */
class AttemptAbort implements AttemptSignal {
  readonly #deadline: Deadline;
  readonly #listener: DeadlineListener = (reason) => this.stop(reason);
  #controller: AbortController | undefined;
  #stopped = false;
  #reason: unknown;
  #reject: ((reason: unknown) => void) | undefined;

  constructor(deadline: Deadline) {
    this.#deadline = deadline;
    const reason = onDeadlineAbort(deadline, this.#listener);
    if (reason) this.stop(reason);
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#stopped) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** Rejects with the reason once the attempt is stopped (at once if it already is). */
  stopped(): Promise<never> {
    if (this.#stopped) return Promise.reject(this.#reason);
    // A fresh pending promise per attempt, settled or dropped with it.
    return new Promise<never>((_, reject) => {
      this.#reject = reject;
    });
  }

  stop(reason: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.#reject?.(reason);
  }

  /** The attempt is over: the deadline no longer holds it. */
  release(): void {
    offDeadlineAbort(this.#deadline, this.#listener);
  }
}

function onlyResolution<T>(promise: Promise<T>): Promise<T> {
  return promise.then(
    (value) => value,
    () => never(),
  );
}

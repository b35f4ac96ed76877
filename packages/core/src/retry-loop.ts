import { AttemptFailedError, BreakerOpenError } from './breaker-registry.js';
import { classifyFailure, type AttemptFailure } from './classify.js';
import { abortAsPromise, sleep, withTimeout } from './clock.js';
import type { Deadline } from './deadline.js';
import { toGuardError } from './failure-response.js';
import { ClaudeGuardError, type FailureOutcome } from './guard-error.js';
import { retryAfterSeconds } from './retry-after.js';
import type { RouteRuntime } from './route-runtime.js';
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

/** @internal An attempt that may answer (`ready`) before it is over (`done`): a stream commits early. */
export interface StartedAttempt<T> {
  ready: Promise<T>;
  done: Promise<unknown>;
}

/** @internal How the loop may treat the attempts it starts. */
export interface AttemptTraits {
  /** The attempt stops by itself when its signal aborts (our own SDK calls do; a caller's fn may not). */
  honoursSignal: boolean;
}

const CALLER_CODE: AttemptTraits = { honoursSignal: false };

/** @internal The per-request state the loop reads and updates. */
export interface CallState {
  readonly runtime: RouteRuntime;
  readonly requestId: string;
  readonly deadline: Deadline;
  readonly forwardClientErrors: boolean;
  attempts: number;
  upstreamRequestId: string | undefined;
}

const noop = (): void => {};
const attemptTimedOut = (ms: number): AttemptTimeoutError => new AttemptTimeoutError(ms);
// A fresh pending promise per use: a shared one would collect a reaction on every use (each
// failed or breaker-refused attempt) and keep alive everything those reactions reach.
const never = <T = never>(): Promise<T> => new Promise<T>(noop);

/**
 * Runs attempts under the route's breaker until one answers, the failure is not transient,
 * attempts or the retry budget run out, or the next wait would not fit in the deadline.
 * Outermost first: deadline -> this loop (with budget) -> breaker -> one attempt.
 *
 * @internal
 */
export async function runWithRetries<T>(
  call: CallState,
  start: (context: AttemptContext) => StartedAttempt<T>,
  traits: AttemptTraits = CALLER_CODE,
): Promise<T> {
  const { runtime, deadline } = call;
  const { guard, config } = runtime;
  const clock = guard.config.clock;
  const events = guard.events;
  guard.budget?.recordRequest();

  for (let attempt = 0; ; attempt++) {
    if (deadline.signal.aborted) throw finalError(call, classifyFailure(deadline.signal.reason, classifyContext(call)));
    call.attempts = attempt + 1;
    let failure: AttemptFailure;
    try {
      return await runOneAttempt(call, attempt, start, traits);
    } catch (error) {
      if (error instanceof BreakerOpenError) {
        events.emit({ type: 'breaker-rejected', route: config.route, key: error.key, requestId: call.requestId });
        call.attempts = attempt; // the breaker refused: no upstream attempt was made
        throw breakerOpenError(call, error);
      }
      failure = error instanceof AttemptFailedError ? error.failure : classifyFailure(error, classifyContext(call));
    }
    if (failure.upstreamRequestId) call.upstreamRequestId = failure.upstreamRequestId;
    if (events.active) {
      events.emit({
        type: 'attempt-failed',
        route: config.route,
        requestId: call.requestId,
        attempt,
        kind: failure.kind,
        status: failure.status,
        transient: failure.transient,
      });
    }
    if (failure.kind === 'deadline') {
      // Also when the SDK's own timeout (the time left) fired a hair before the deadline's timer.
      if (events.active) {
        events.emit({
          type: 'deadline-exceeded',
          route: config.route,
          requestId: call.requestId,
          source: deadline.source,
          budgetMs: deadline.budgetMs,
        });
      }
      throw finalError(call, failure);
    }
    if (!failure.transient) {
      giveUp(call, 'not-transient');
      throw finalError(call, failure);
    }
    if (attempt + 1 >= config.retry.maxAttempts) {
      giveUp(call, 'attempts-exhausted');
      throw finalError(call, failure);
    }
    const delayMs = failure.retryAfterMs ?? runtime.backoff(attempt);
    if (delayMs >= deadline.remaining()) {
      giveUp(call, 'wait-exceeds-deadline');
      throw finalError(call, failure);
    }
    if (guard.budget && !guard.budget.tryWithdraw()) {
      events.emit({ type: 'retry-budget-rejected', route: config.route, requestId: call.requestId });
      giveUp(call, 'retry-budget');
      throw finalError(call, failure, 'retry-budget-exhausted');
    }
    if (events.active) {
      events.emit({ type: 'retry', route: config.route, requestId: call.requestId, attempt: attempt + 1, delayMs });
    }
    try {
      await sleep(clock, delayMs, deadline.signal);
    } catch (reason) {
      throw finalError(call, classifyFailure(reason, classifyContext(call)));
    }
  }
}

function classifyContext(call: CallState) {
  return {
    deadline: call.deadline,
    countRateLimits: call.runtime.breaker?.options.countRateLimits ?? false,
    now: call.runtime.guard.config.clock.now,
    secrets: call.runtime.guard.secrets,
  };
}

function giveUp(
  call: CallState,
  reason: 'not-transient' | 'attempts-exhausted' | 'wait-exceeds-deadline' | 'retry-budget',
) {
  const events = call.runtime.guard.events;
  if (!events.active) return;
  events.emit({
    type: 'give-up',
    route: call.runtime.config.route,
    requestId: call.requestId,
    attempts: call.attempts,
    reason,
  });
}

function finalError(call: CallState, failure: AttemptFailure, outcome?: FailureOutcome): ClaudeGuardError {
  return toGuardError(failure, {
    route: call.runtime.config.route,
    attempts: call.attempts,
    forwardClientErrors: call.forwardClientErrors && call.runtime.config.proxy.forwardUpstreamClientErrors,
    secrets: call.runtime.guard.secrets,
    outcome,
  });
}

function breakerOpenError(call: CallState, error: BreakerOpenError): ClaudeGuardError {
  const seconds = retryAfterSeconds(error.retryAfterMs);
  return new ClaudeGuardError({
    status: 503,
    type: 'overloaded_error',
    message: `Claude is unavailable for route '${call.runtime.config.route}': its circuit breaker is open; retry after ${seconds} s`,
    outcome: 'breaker-open',
    headers: { 'retry-after': seconds },
    attempts: 0,
  });
}

async function runOneAttempt<T>(
  call: CallState,
  attempt: number,
  start: (context: AttemptContext) => StartedAttempt<T>,
  traits: AttemptTraits,
): Promise<T> {
  const { runtime, deadline } = call;
  const { clock } = runtime.guard.config;
  const attemptTimeoutMs = runtime.config.retry.attemptTimeoutMs;
  const remaining = deadline.remaining();
  // The route's own limit only when it is shorter than what is left; otherwise the deadline rules.
  const ownTimeout = attemptTimeoutMs !== undefined && attemptTimeoutMs < remaining ? attemptTimeoutMs : undefined;
  const timeout = Math.max(1, Math.ceil(ownTimeout ?? remaining));

  // An attempt needs its own signal only to be cut short before the deadline (its own timeout)
  // or stopped when it ignores the signal; otherwise the deadline's signal serves as it is.
  const controller = ownTimeout !== undefined || !traits.honoursSignal ? new AbortController() : undefined;
  const onDeadline = controller && (() => controller.abort(deadline.signal.reason));
  if (onDeadline) deadline.signal.addEventListener('abort', onDeadline, { once: true });
  const context: AttemptContext = { signal: controller?.signal ?? deadline.signal, timeout, attempt, deadline };
  if (runtime.guard.events.active) {
    runtime.guard.events.emit({
      type: 'attempt',
      route: runtime.config.route,
      requestId: call.requestId,
      attempt,
      timeoutMs: timeout,
    });
  }

  const work = async (): Promise<T> => {
    let started: StartedAttempt<T>;
    try {
      started = start(context);
    } catch (error) {
      if (onDeadline) deadline.signal.removeEventListener('abort', onDeadline);
      throw new AttemptFailedError(classifyFailure(error, classifyContext(call)));
    }
    const { ready } = started;
    ready.catch(noop); // its failure is reported through `done`, classified
    let done = started.done;
    if (ownTimeout !== undefined) {
      done = withTimeout(clock, done, ownTimeout, attemptTimedOut);
    }
    // A caller's fn that ignores the signal still ends at the deadline or disconnect.
    if (!traits.honoursSignal && controller) done = Promise.race([done, abortAsPromise(controller.signal)]);
    const settled = (async () => {
      try {
        await done;
      } catch (error) {
        if (controller && !controller.signal.aborted) controller.abort(error);
        throw new AttemptFailedError(classifyFailure(error, classifyContext(call)));
      } finally {
        if (onDeadline) deadline.signal.removeEventListener('abort', onDeadline);
      }
    })();
    // A plain call answers when it is over: its verdict is its outcome.
    if (ready === started.done) {
      await settled;
      return ready;
    }
    // A stream answers (`ready`, its commit) before it is over (`done`). A valid first event is proof
    // of health: the verdict is given at the commit, so a half-open breaker is released there, never
    // held for as long as the stream lasts or its client takes to read it.
    let committed = false;
    ready.then(() => {
      committed = true;
    }, noop);
    settled.catch((error: unknown) => {
      if (committed && error instanceof AttemptFailedError) recordAfterCommit(call, error.failure);
    });
    return Promise.race([onlyResolution(ready), settled.then(() => ready)]);
  };

  // The time left decides whether this attempt may be a half-open breaker's trial.
  return runtime.breaker ? runtime.breaker.execute(work, { budgetMs: remaining }) : work();
}

/**
 * Upstream ill health found in a stream after its commit (an in-band error, a malformed or stalled
 * stream, a lost connection): the attempt's verdict was given at the commit, so this is recorded on
 * its own, into a closed breaker's window only: an open breaker needs no more evidence, and a
 * half-open one's trial belongs to another call. The deadline or the route's attempt timeout
 * running out after the commit is not recorded: that time may have gone to a slow reader.
 */
function recordAfterCommit(call: CallState, failure: AttemptFailure): void {
  const breaker = call.runtime.breaker;
  if (!breaker || breaker.state !== 'closed' || failure.breaker !== 'failure') return;
  if (failure.kind === 'deadline' || failure.kind === 'attempt-timeout') return;
  breaker.execute(() => Promise.reject(new AttemptFailedError(failure))).catch(noop);
}

function onlyResolution<T>(promise: Promise<T>): Promise<T> {
  return promise.then(
    (value) => value,
    () => never(),
  );
}

import Anthropic from '@anthropic-ai/sdk';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { exponentialBackoff } from './backoff.js';
import { AttemptFailedError, BreakerOpenError, type BreakerState } from './breaker-registry.js';
import { systemClock } from './clock.js';
import { Deadline, type DeadlineSource } from './deadline.js';
import { GuardEvents, type GuardEvent } from './events.js';
import { ClaudeGuardError } from './guard-error.js';
import { RequestRecord } from './request-record.js';
import { createRetryBudget } from './retry-budget.js';
import {
  RetryPolicy,
  SDK_CALL,
  type AttemptBreaker,
  type AttemptContext,
  type RetryCall,
  type RetryPolicyOptions,
} from './retry-loop.js';

// The policy alone, on fake timers: no guard, no route, no client. Its collaborators are the pure
// backoff, a real retry budget on the faked clock, an event hub, and (where a case needs one) a
// fake breaker; the per-call state is a deadline and a record, as a request would give it.

function httpError(status: number, headers: Record<string, string> = {}) {
  return Anthropic.APIError.generate(
    status,
    { type: 'error', error: { message: 'm' } },
    undefined,
    new Headers(headers),
  );
}

/** A call that plays `outcomes` in order (the last one repeats); strings resolve, errors reject. */
function scripted(...outcomes: (string | Error)[]) {
  const attempts: AttemptContext[] = [];
  const fn = (context: AttemptContext): Promise<string> => {
    attempts.push(context);
    const outcome = outcomes[Math.min(attempts.length - 1, outcomes.length - 1)]!;
    return typeof outcome === 'string' ? Promise.resolve(outcome) : Promise.reject(outcome);
  };
  return { fn, attempts };
}

/** A call that never answers but honours its signal, like the SDK. */
function hanging() {
  const attempts: AttemptContext[] = [];
  const fn = (context: AttemptContext): Promise<string> => {
    attempts.push(context);
    return new Promise((_, reject) => {
      context.signal.addEventListener('abort', () => reject(new Anthropic.APIUserAbortError()), { once: true });
    });
  };
  return { fn, attempts };
}

function track<T>(promise: Promise<T>) {
  const state = { settled: false, value: undefined as T | undefined, error: undefined as unknown };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

/** A breaker that lets every call through (or refuses them all), judging them like the real one. */
function fakeBreaker(refuseWith?: BreakerOpenError) {
  const verdicts: string[] = [];
  const breaker: AttemptBreaker & { state: BreakerState; budgets: (number | undefined)[] } = {
    state: 'closed',
    budgets: [],
    async execute<T>(work: () => Promise<T>, options: { budgetMs?: number }): Promise<T> {
      breaker.budgets.push(options.budgetMs);
      if (refuseWith) throw refuseWith;
      try {
        const value = await work();
        verdicts.push('success');
        return value;
      } catch (error) {
        verdicts.push(error instanceof AttemptFailedError ? error.failure.breaker : 'foreign');
        throw error;
      }
    },
  };
  return { breaker, verdicts };
}

let events: GuardEvent[];
let hub: GuardEvents;
let deadlines: Deadline[];

function policy(options: Partial<RetryPolicyOptions> = {}): RetryPolicy {
  return new RetryPolicy({
    route: 'r',
    maxAttempts: 3,
    backoff: exponentialBackoff({ baseMs: 500, capMs: 8_000, random: () => 0.5 }),
    budget: undefined,
    breaker: undefined,
    events: hub,
    clock: systemClock,
    attemptTimeoutMs: undefined,
    countRateLimits: false,
    secrets: [],
    forwardClientErrors: false,
    ...options,
  });
}

/** What a request hands the policy: its deadline (the route's 60 s, or a caller's) and its record. */
function call(
  options: { budgetMs?: number; source?: DeadlineSource; signal?: AbortSignal; requestId?: string } = {},
): RetryCall & { record: RequestRecord } {
  const deadline = new Deadline(
    systemClock,
    options.budgetMs ?? 60_000,
    options.source ?? (options.budgetMs === undefined ? 'route-default' : 'caller-header'),
    options.signal,
  );
  deadlines.push(deadline);
  const record = new RequestRecord(
    { route: 'r', sdkVersion: 'test', now: () => Date.now(), log: undefined, events: hub, secrets: [] },
    options.requestId ?? 'cg_test',
    deadline,
  );
  return { deadline, record };
}

function retryDelays(): number[] {
  return events.flatMap((e) => (e.type === 'retry' ? [e.delayMs] : []));
}

function giveUps(): string[] {
  return events.flatMap((e) => (e.type === 'give-up' ? [e.reason] : []));
}

beforeEach(() => {
  vi.useFakeTimers();
  events = [];
  deadlines = [];
  hub = new GuardEvents();
  hub.on((event) => events.push(event));
});
afterEach(() => {
  for (const deadline of deadlines) deadline.dispose();
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('RetryPolicy', () => {
  it('waits backoff delays drawn from the injected random, never earlier', async () => {
    const random = vi.fn().mockReturnValueOnce(0.25).mockReturnValueOnce(0.75).mockReturnValueOnce(0.5);
    const retry = policy({ maxAttempts: 4, backoff: exponentialBackoff({ baseMs: 100, capMs: 1_000, random }) });
    const attempt = scripted(httpError(529), httpError(500), httpError(503), 'done');
    const result = track(retry.execute(attempt.fn, call()));
    await vi.advanceTimersByTimeAsync(0);
    expect(attempt.attempts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(24);
    expect(attempt.attempts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempt.attempts).toHaveLength(2); // 0.25 * 100
    await vi.advanceTimersByTimeAsync(149);
    expect(attempt.attempts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempt.attempts).toHaveLength(3); // 0.75 * 200
    await vi.advanceTimersByTimeAsync(200);
    expect(attempt.attempts).toHaveLength(4); // 0.5 * 400
    expect(result).toMatchObject({ settled: true, value: 'done' });
    expect(retryDelays()).toEqual([25, 150, 200]);
    expect(random).toHaveBeenCalledTimes(3);
    expect(attempt.attempts.map((a) => a.attempt)).toEqual([0, 1, 2, 3]);
  });

  it('caps the backoff at retry.maxDelayMs', async () => {
    const retry = policy({
      maxAttempts: 5,
      backoff: exponentialBackoff({ baseMs: 100, capMs: 250, random: () => 0.999 }),
    });
    const attempt = scripted(httpError(529), httpError(529), httpError(529), httpError(529), 'ok');
    const result = track(retry.execute(attempt.fn, call()));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(result.value).toBe('ok');
    expect(retryDelays()).toEqual([99, 199, 249, 249]);
  });

  it('waits retry-after-ms (or retry-after) instead of the backoff', async () => {
    const retry = policy({ backoff: exponentialBackoff({ baseMs: 100, capMs: 1_000, random: () => 0.5 }) });
    const attempt = scripted(httpError(429, { 'retry-after-ms': '300' }), httpError(529, { 'retry-after': '2' }), 'ok');
    const result = track(retry.execute(attempt.fn, call()));
    await vi.advanceTimersByTimeAsync(299);
    expect(attempt.attempts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempt.attempts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(result.value).toBe('ok');
    expect(retryDelays()).toEqual([300, 2_000]);
  });

  it('gives each attempt the time left as its timeout, and its own signal', async () => {
    const retry = policy({ backoff: exponentialBackoff({ baseMs: 100, capMs: 1_000, random: () => 0.5 }) });
    const attempt = scripted(httpError(529), httpError(529), 'ok');
    const result = track(retry.execute(attempt.fn, call({ budgetMs: 1_000 })));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(result.value).toBe('ok');
    expect(attempt.attempts.map((a) => a.timeout)).toEqual([1_000, 950, 850]);
    expect(new Set(attempt.attempts.map((a) => a.signal)).size).toBe(3);
    expect(attempt.attempts.every((a) => a.deadline === attempt.attempts[0]!.deadline)).toBe(true);
  });

  it('hands an SDK call (which stops at its signal) a borrowed signal: reused once clean, no controller per call', async () => {
    const retry = policy();
    const first = scripted('ok');
    expect(await retry.execute(first.fn, call(), SDK_CALL)).toBe('ok');
    const second = scripted('ok');
    expect(await retry.execute(second.fn, call(), SDK_CALL)).toBe('ok');
    expect(second.attempts[0]!.signal).toBe(first.attempts[0]!.signal);
    expect(second.attempts[0]!.signal.aborted).toBe(false);
  });

  it("aborts an SDK call's borrowed signal with the deadline, and never lends it again", async () => {
    const retry = policy();
    const request = call({ budgetMs: 100 });
    const attempt = hanging();
    const result = track(retry.execute(attempt.fn, request, SDK_CALL));
    await vi.advanceTimersByTimeAsync(100);
    expect(result.error).toMatchObject({ status: 504, outcome: 'deadline-exceeded' });
    const signal = attempt.attempts[0]!.signal;
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(request.deadline.signal.reason);
    const next = scripted('ok');
    expect(await retry.execute(next.fn, call(), SDK_CALL)).toBe('ok');
    expect(next.attempts[0]!.signal).not.toBe(signal);
  });

  it("gives a caller's fn a signal of its own per attempt, made when read: read after its attempt failed, it is born aborted", async () => {
    const retry = policy({ backoff: exponentialBackoff({ baseMs: 1, capMs: 1, random: () => 0 }) });
    const attempt = scripted(httpError(529), 'ok');
    const result = track(retry.execute(attempt.fn, call()));
    await vi.advanceTimersByTimeAsync(5);
    expect(result.value).toBe('ok');
    const [failed, answered] = attempt.attempts.map((a) => a.signal);
    expect(failed!.aborted).toBe(true);
    expect(answered!.aborted).toBe(false);
    expect(failed).not.toBe(answered);
  });

  it('never sleeps past the deadline: gives up at once with the upstream error when the next wait does not fit', async () => {
    const retry = policy({
      maxAttempts: 5,
      backoff: exponentialBackoff({ baseMs: 400, capMs: 8_000, random: () => 0.999 }),
    });
    const attempt = scripted(httpError(529));
    const started = Date.now();
    const result = track(retry.execute(attempt.fn, call({ budgetMs: 500 })));
    await vi.advanceTimersByTimeAsync(399); // first wait: 399 ms fits in 500
    expect(attempt.attempts).toHaveLength(2);
    // The second wait (799 ms) does not fit in the 101 ms left: no sleep, no third attempt.
    expect(result.settled).toBe(true);
    expect(Date.now() - started).toBe(399);
    expect(result.error).toBeInstanceOf(ClaudeGuardError);
    expect(result.error).toMatchObject({
      status: 529,
      type: 'overloaded_error',
      outcome: 'upstream-error',
      attempts: 2,
    });
    expect(giveUps()).toEqual(['wait-exceeds-deadline']);
  });

  it('does not wait for a retry-after longer than the time left, and passes it on', async () => {
    const retry = policy();
    const attempt = scripted(httpError(429, { 'retry-after': '30' }), 'ok');
    const result = track(retry.execute(attempt.fn, call({ budgetMs: 2_000 })));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toMatchObject({ status: 429, type: 'rate_limit_error', headers: { 'retry-after': '30' } });
    expect(attempt.attempts).toHaveLength(1);
  });

  it('ends an attempt in flight at the deadline, with a 504 naming it', async () => {
    const retry = policy();
    const attempt = hanging();
    const result = track(retry.execute(attempt.fn, call({ budgetMs: 100 })));
    await vi.advanceTimersByTimeAsync(99);
    expect(result.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(result.error).toMatchObject({
      status: 504,
      type: 'timeout_error',
      outcome: 'deadline-exceeded',
      attempts: 1,
    });
    expect((result.error as Error).message).toBe(
      "The caller's deadline (from the request header) of 100 ms ran out before Claude answered (route 'r', 1 attempt)",
    );
    expect(attempt.attempts[0]!.signal.aborted).toBe(true);
  });

  it('retries an attempt that outlives retry.attemptTimeoutMs', async () => {
    const retry = policy({
      attemptTimeoutMs: 100,
      backoff: exponentialBackoff({ baseMs: 500, capMs: 8_000, random: () => 0 }),
    });
    const attempt = hanging();
    const result = track(retry.execute(attempt.fn, call()));
    await vi.advanceTimersByTimeAsync(99);
    expect(attempt.attempts).toHaveLength(1);
    // At 100 ms the attempt is aborted; the zero backoff still yields one timer tick.
    await vi.advanceTimersByTimeAsync(2);
    expect(attempt.attempts).toHaveLength(2);
    expect(attempt.attempts[0]!.signal.aborted).toBe(true);
    expect(attempt.attempts[0]!.timeout).toBe(100);
    await vi.advanceTimersByTimeAsync(300);
    expect(attempt.attempts).toHaveLength(3);
    expect(result.error).toMatchObject({ status: 504, outcome: 'attempt-timeout', attempts: 3 });
  });

  it('does not retry a final failure', async () => {
    const retry = policy();
    const attempt = scripted(httpError(400), 'ok');
    const result = track(retry.execute(attempt.fn, call()));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toMatchObject({ status: 400, outcome: 'bad-request', attempts: 1 });
    expect(attempt.attempts).toHaveLength(1);
    expect(giveUps()).toEqual(['not-transient']);
  });

  it('stops after retry.maxAttempts', async () => {
    const retry = policy({
      maxAttempts: 2,
      backoff: exponentialBackoff({ baseMs: 500, capMs: 8_000, random: () => 0 }),
    });
    const attempt = scripted(httpError(529));
    const result = track(retry.execute(attempt.fn, call()));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toMatchObject({ status: 529, attempts: 2 });
    expect(attempt.attempts).toHaveLength(2);
    expect(giveUps()).toEqual(['attempts-exhausted']);
  });

  it('refuses retries once the budget is spent, and grants them again when the window has passed', async () => {
    // One retry in reserve (0.1/s over 10 s), none earned per request.
    const budget = createRetryBudget({
      minRetriesPerSecond: 0.1,
      percentCanRetry: 0,
      ttlMs: 10_000,
      now: () => Date.now(),
    });
    const retry = policy({
      maxAttempts: 5,
      budget,
      backoff: exponentialBackoff({ baseMs: 500, capMs: 8_000, random: () => 0 }),
    });
    const first = scripted(httpError(529));
    const one = track(retry.execute(first.fn, call()));
    await vi.advanceTimersByTimeAsync(0);
    expect(one.error).toMatchObject({ status: 529, attempts: 2 });
    expect(first.attempts).toHaveLength(2);

    const second = scripted(httpError(529));
    const two = track(retry.execute(second.fn, call()));
    await vi.advanceTimersByTimeAsync(0);
    expect(two.error).toMatchObject({ status: 529, attempts: 1 });
    expect(giveUps()).toEqual(['retry-budget', 'retry-budget']);
    expect(events.filter((e) => e.type === 'retry-budget-rejected')).toHaveLength(2);
    expect(two.error).toMatchObject({ outcome: 'retry-budget-exhausted' });

    await vi.advanceTimersByTimeAsync(10_000);
    const third = scripted(httpError(529), 'ok');
    const three = track(retry.execute(third.fn, call()));
    await vi.advanceTimersByTimeAsync(0);
    expect(three.value).toBe('ok');
  });

  it('stops at once when the caller goes away during a backoff wait', async () => {
    const retry = policy({ backoff: exponentialBackoff({ baseMs: 1_000, capMs: 1_000, random: () => 0.5 }) });
    const controller = new AbortController();
    const attempt = scripted(httpError(529), 'ok');
    const result = track(retry.execute(attempt.fn, call({ signal: controller.signal })));
    await vi.advanceTimersByTimeAsync(100);
    expect(result.settled).toBe(false);
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toMatchObject({ status: 499, outcome: 'client-aborted' });
    expect(attempt.attempts).toHaveLength(1);
  });

  it('reports each step as events, in order, and each fact into the record', async () => {
    const retry = policy({ backoff: exponentialBackoff({ baseMs: 10, capMs: 10, random: () => 0.5 }) });
    const attempt = scripted(httpError(529, { 'request-id': 'req_first' }), 'ok');
    const request = call({ requestId: 'ev-1' });
    const result = track(retry.execute(attempt.fn, request));
    await vi.advanceTimersByTimeAsync(5);
    expect(result.value).toBe('ok');
    // The request ends after the policy answered: the record writes request-end.
    request.record.end(200);
    expect(events.map((e) => e.type)).toEqual([
      'request-start',
      'attempt',
      'attempt-failed',
      'retry',
      'attempt',
      'request-end',
    ]);
    expect(events[0]).toEqual({ type: 'request-start', route: 'r', requestId: 'ev-1' });
    expect(events[2]).toEqual({
      type: 'attempt-failed',
      route: 'r',
      requestId: 'ev-1',
      attempt: 0,
      kind: 'http',
      status: 529,
      transient: true,
      upstreamMessage: 'm',
      errorCode: undefined,
      errorType: 'overloaded_error',
    });
    // The retry names what failed before it: a bounded word, fit for a metric label.
    expect(events[3]).toEqual({
      type: 'retry',
      route: 'r',
      requestId: 'ev-1',
      attempt: 1,
      delayMs: 5,
      reason: 'overloaded_error',
    });
    expect(events.at(-1)).toMatchObject({
      type: 'request-end',
      route: 'r',
      status: 200,
      attempts: 2,
      outcome: 'ok',
      durationMs: 5,
      upstreamRequestId: 'req_first',
    });
  });

  it('records the failure that ended the call, classified', async () => {
    const retry = policy({ maxAttempts: 1 });
    const request = call();
    const result = track(retry.execute(scripted(httpError(503)).fn, request));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toMatchObject({ status: 503, attempts: 1 });
    expect(request.record.failure).toEqual({
      kind: 'http',
      type: 'api_error',
      status: 503,
      upstreamMessage: 'm',
      errorCode: undefined,
    });
  });

  it("words an upstream 4xx in its own message only when the policy forwards clients' errors (the passthrough's)", async () => {
    const ours = track(policy().execute(scripted(httpError(400)).fn, call()));
    const passthrough = track(policy({ forwardClientErrors: true }).execute(scripted(httpError(400)).fn, call()));
    await vi.advanceTimersByTimeAsync(0);
    expect((ours.error as Error).message).toBe(
      "The Claude API answered 400 invalid_request_error (route 'r', 1 attempt)",
    );
    expect((passthrough.error as Error).message).toBe('m');
  });

  it('gives the breaker the time left, and its verdicts; a refusal is a 503 with no attempt made', async () => {
    const { breaker, verdicts } = fakeBreaker();
    const retry = policy({ breaker, backoff: exponentialBackoff({ baseMs: 10, capMs: 10, random: () => 0 }) });
    const attempt = scripted(httpError(529), httpError(400));
    const result = track(retry.execute(attempt.fn, call({ budgetMs: 1_000 })));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toMatchObject({ status: 400 });
    expect(breaker.budgets).toEqual([1_000, 1_000]);
    expect(verdicts).toEqual(['failure', 'success']);

    const refused = fakeBreaker(new BreakerOpenError('r', 2_500));
    const request = call();
    const refusal = track(policy({ breaker: refused.breaker }).execute(attempt.fn, request));
    await vi.advanceTimersByTimeAsync(0);
    expect(refusal.error).toMatchObject({
      status: 503,
      type: 'overloaded_error',
      outcome: 'breaker-open',
      attempts: 0,
      headers: { 'retry-after': '3' },
    });
    expect(request.record.attempts).toBe(0);
    expect(events.filter((e) => e.type === 'breaker-rejected')).toEqual([
      { type: 'breaker-rejected', route: 'r', key: 'r', requestId: 'cg_test' },
    ]);
  });

  it('judges a started attempt at its commit (ready), and records a failure after it into a closed breaker', async () => {
    const { breaker, verdicts } = fakeBreaker();
    const retry = policy({ breaker });
    let fail!: (error: unknown) => void;
    const done = new Promise<void>((_, reject) => {
      fail = reject;
    });
    const result = track(retry.execute(() => ({ ready: Promise.resolve('committed'), done }), call(), SDK_CALL));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.value).toBe('committed');
    expect(verdicts).toEqual(['success']);
    // The stream fails later (an in-band overloaded error): one more failure, on its own.
    fail(httpError(529));
    await vi.advanceTimersByTimeAsync(0);
    expect(verdicts).toEqual(['success', 'failure']);
  });
});

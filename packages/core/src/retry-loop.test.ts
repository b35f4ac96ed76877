import Anthropic from '@anthropic-ai/sdk';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClaudeClient } from './claude-client.js';
import type { GuardEvent } from './events.js';
import { createClaudeGuard, type ClaudeGuard } from './guard.js';
import { ClaudeGuardError } from './guard-error.js';
import type { ClaudeGuardOptions } from './options.js';
import type { AttemptContext } from './retry-loop.js';

// The guard under test only runs the caller's own function: the client is never called.
const client = { messages: { create: () => Promise.reject(new Error('not used')) } } as unknown as ClaudeClient;

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

let guard: ClaudeGuard;
let events: GuardEvent[];

function makeGuard(options: Omit<ClaudeGuardOptions, 'client'> = {}): ClaudeGuard {
  events = [];
  guard = createClaudeGuard({ client, onEvent: (event) => events.push(event), deadline: { reserveMs: 0 }, ...options });
  return guard;
}

function retryDelays(): number[] {
  return events.flatMap((e) => (e.type === 'retry' ? [e.delayMs] : []));
}

function giveUps(): string[] {
  return events.flatMap((e) => (e.type === 'give-up' ? [e.reason] : []));
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  guard.close();
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('retry loop (guard.run)', () => {
  it('waits backoff delays drawn from the injected random, never earlier', async () => {
    const random = vi.fn().mockReturnValueOnce(0.25).mockReturnValueOnce(0.75).mockReturnValueOnce(0.5);
    makeGuard({ random, retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 } });
    const call = scripted(httpError(529), httpError(500), httpError(503), 'done');
    const result = track(guard.run('r', call.fn));
    await vi.advanceTimersByTimeAsync(0);
    expect(call.attempts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(24);
    expect(call.attempts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(call.attempts).toHaveLength(2); // 0.25 * 100
    await vi.advanceTimersByTimeAsync(149);
    expect(call.attempts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(call.attempts).toHaveLength(3); // 0.75 * 200
    await vi.advanceTimersByTimeAsync(200);
    expect(call.attempts).toHaveLength(4); // 0.5 * 400
    expect(result).toMatchObject({ settled: true, value: 'done' });
    expect(retryDelays()).toEqual([25, 150, 200]);
    expect(random).toHaveBeenCalledTimes(3);
    expect(call.attempts.map((a) => a.attempt)).toEqual([0, 1, 2, 3]);
  });

  it('caps the backoff at retry.maxDelayMs', async () => {
    makeGuard({ random: () => 0.999, retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 250 } });
    const call = scripted(httpError(529), httpError(529), httpError(529), httpError(529), 'ok');
    const result = track(guard.run('r', call.fn));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(result.value).toBe('ok');
    expect(retryDelays()).toEqual([99, 199, 249, 249]);
  });

  it('waits retry-after-ms (or retry-after) instead of the backoff', async () => {
    makeGuard({ random: () => 0.5, retry: { baseDelayMs: 100, maxDelayMs: 1_000 } });
    const call = scripted(httpError(429, { 'retry-after-ms': '300' }), httpError(529, { 'retry-after': '2' }), 'ok');
    const result = track(guard.run('r', call.fn));
    await vi.advanceTimersByTimeAsync(299);
    expect(call.attempts).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(call.attempts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(result.value).toBe('ok');
    expect(retryDelays()).toEqual([300, 2_000]);
  });

  it('gives each attempt the time left as its timeout, and its own signal', async () => {
    makeGuard({ random: () => 0.5, retry: { baseDelayMs: 100, maxDelayMs: 1_000 } });
    const call = scripted(httpError(529), httpError(529), 'ok');
    const result = track(guard.run('r', call.fn, { headers: new Headers({ 'x-request-timeout-ms': '1000' }) }));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(result.value).toBe('ok');
    expect(call.attempts.map((a) => a.timeout)).toEqual([1_000, 950, 850]);
    expect(new Set(call.attempts.map((a) => a.signal)).size).toBe(3);
    expect(call.attempts.every((a) => a.deadline === call.attempts[0]!.deadline)).toBe(true);
  });

  it('never sleeps past the deadline: gives up at once with the upstream error when the next wait does not fit', async () => {
    makeGuard({ random: () => 0.999, retry: { maxAttempts: 5, baseDelayMs: 400, maxDelayMs: 8_000 } });
    const call = scripted(httpError(529));
    const started = Date.now();
    const result = track(guard.run('r', call.fn, { headers: new Headers({ 'x-request-timeout-ms': '500' }) }));
    await vi.advanceTimersByTimeAsync(399); // first wait: 399 ms fits in 500
    expect(call.attempts).toHaveLength(2);
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
    makeGuard();
    const call = scripted(httpError(429, { 'retry-after': '30' }), 'ok');
    const result = track(guard.run('r', call.fn, { headers: new Headers({ 'x-request-timeout-ms': '2000' }) }));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toMatchObject({ status: 429, type: 'rate_limit_error', headers: { 'retry-after': '30' } });
    expect(call.attempts).toHaveLength(1);
  });

  it('ends an attempt in flight at the deadline, with a 504 naming it', async () => {
    makeGuard();
    const call = hanging();
    const result = track(guard.run('r', call.fn, { headers: new Headers({ 'x-request-timeout-ms': '100' }) }));
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
    expect(call.attempts[0]!.signal.aborted).toBe(true);
  });

  it('retries an attempt that outlives retry.attemptTimeoutMs', async () => {
    makeGuard({ random: () => 0, retry: { attemptTimeoutMs: 100 } });
    const call = hanging();
    const result = track(guard.run('r', call.fn));
    await vi.advanceTimersByTimeAsync(99);
    expect(call.attempts).toHaveLength(1);
    // At 100 ms the attempt is aborted; the zero backoff still yields one timer tick.
    await vi.advanceTimersByTimeAsync(2);
    expect(call.attempts).toHaveLength(2);
    expect(call.attempts[0]!.signal.aborted).toBe(true);
    expect(call.attempts[0]!.timeout).toBe(100);
    await vi.advanceTimersByTimeAsync(300);
    expect(call.attempts).toHaveLength(3);
    expect(result.error).toMatchObject({ status: 504, outcome: 'attempt-timeout', attempts: 3 });
  });

  it('does not retry a final failure', async () => {
    makeGuard();
    const call = scripted(httpError(400), 'ok');
    const result = track(guard.run('r', call.fn));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toMatchObject({ status: 400, outcome: 'bad-request', attempts: 1 });
    expect(call.attempts).toHaveLength(1);
    expect(giveUps()).toEqual(['not-transient']);
  });

  it('stops after retry.maxAttempts', async () => {
    makeGuard({ random: () => 0, retry: { maxAttempts: 2 } });
    const call = scripted(httpError(529));
    const result = track(guard.run('r', call.fn));
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toMatchObject({ status: 529, attempts: 2 });
    expect(call.attempts).toHaveLength(2);
    expect(giveUps()).toEqual(['attempts-exhausted']);
  });

  it('refuses retries once the budget is spent, and grants them again when the window has passed', async () => {
    // One retry in reserve (0.1/s over 10 s), none earned per request.
    makeGuard({
      random: () => 0,
      retry: { maxAttempts: 5 },
      retryBudget: { minRetriesPerSecond: 0.1, percentCanRetry: 0, ttlMs: 10_000 },
      breaker: { enabled: false },
    });
    const first = scripted(httpError(529));
    const one = track(guard.run('r', first.fn));
    await vi.advanceTimersByTimeAsync(0);
    expect(one.error).toMatchObject({ status: 529, attempts: 2 });
    expect(first.attempts).toHaveLength(2);

    const second = scripted(httpError(529));
    const two = track(guard.run('r', second.fn));
    await vi.advanceTimersByTimeAsync(0);
    expect(two.error).toMatchObject({ status: 529, attempts: 1 });
    expect(giveUps()).toEqual(['retry-budget', 'retry-budget']);
    expect(events.filter((e) => e.type === 'retry-budget-rejected')).toHaveLength(2);

    await vi.advanceTimersByTimeAsync(10_000);
    const third = scripted(httpError(529), 'ok');
    const three = track(guard.run('r', third.fn));
    await vi.advanceTimersByTimeAsync(0);
    expect(three.value).toBe('ok');
  });

  it('stops at once when the caller goes away during a backoff wait', async () => {
    makeGuard({ random: () => 0.5, retry: { baseDelayMs: 1_000, maxDelayMs: 1_000 } });
    const controller = new AbortController();
    const call = scripted(httpError(529), 'ok');
    const result = track(guard.run('r', call.fn, { signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(100);
    expect(result.settled).toBe(false);
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(result.error).toMatchObject({ status: 499, outcome: 'client-aborted' });
    expect(call.attempts).toHaveLength(1);
  });

  it('reports each step as events, in order', async () => {
    makeGuard({ random: () => 0.5, retry: { baseDelayMs: 10, maxDelayMs: 10 } });
    const call = scripted(httpError(529), 'ok');
    const result = track(guard.run('r', call.fn, { headers: new Headers({ 'x-request-id': 'ev-1' }) }));
    await vi.advanceTimersByTimeAsync(10);
    expect(result.value).toBe('ok');
    expect(events.map((e) => e.type)).toEqual(['attempt', 'attempt-failed', 'retry', 'attempt', 'request-end']);
    expect(events[1]).toEqual({
      type: 'attempt-failed',
      route: 'r',
      requestId: 'ev-1',
      attempt: 0,
      kind: 'http',
      status: 529,
      transient: true,
    });
    expect(events.at(-1)).toMatchObject({
      type: 'request-end',
      route: 'r',
      status: 200,
      attempts: 2,
      outcome: 'ok',
      durationMs: 5,
    });
  });
});

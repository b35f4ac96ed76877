import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock, type Clock } from './clock.js';
import {
  ClientAbortedError,
  Deadline,
  deadlineAbortReason,
  DeadlineExceededError,
  offDeadlineAbort,
  onDeadlineAbort,
  resolveDeadline,
  type DeadlinePolicy,
} from './deadline.js';
import { DEFAULT_DEADLINE_HEADERS } from './deadline-header.js';
import { ClaudeGuardError } from './guard-error.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Deadline', () => {
  it('counts down and aborts with DeadlineExceededError when the budget runs out', () => {
    const deadline = new Deadline(systemClock, 100, 'caller-header');
    expect(deadline.remaining()).toBe(100);
    expect(deadline.budgetMs).toBe(100);
    expect(deadline.at).toBe(Date.now() + 100);
    // Nothing waits for it yet: no timer. Reading its signal arms one.
    expect(vi.getTimerCount()).toBe(0);
    expect(deadline.signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(1);

    vi.advanceTimersByTime(40);
    expect(deadline.remaining()).toBe(60);
    expect(deadline.signal.aborted).toBe(false);
    expect(deadline.expired).toBe(false);

    vi.advanceTimersByTime(60);
    expect(deadline.signal.aborted).toBe(true);
    const reason = deadline.signal.reason as unknown;
    expect(reason).toBeInstanceOf(DeadlineExceededError);
    expect(reason).toMatchObject({ name: 'DeadlineExceededError', source: 'caller-header', budgetMs: 100 });
    expect((reason as Error).message).toBe("The caller's deadline (from the request header) of 100 ms ran out");
    expect(deadline.expired).toBe(true);
    expect(deadline.clientAborted).toBe(false);
    expect(deadline.remaining()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it.each([
    ['route-default', "The route's default deadline of 50 ms ran out"],
    ['route-maximum', "The route's maximum deadline of 50 ms ran out"],
    ['call-option', "The call's own deadline (deadlineMs) of 50 ms ran out"],
  ] as const)('names the %s source in its reason', (source, message) => {
    const deadline = new Deadline(systemClock, 50, source);
    vi.advanceTimersByTime(50);
    expect((deadline.signal.reason as Error).message).toBe(message);
  });

  it('aborts with ClientAbortedError when the parent signal aborts, and clears its timer', () => {
    const parent = new AbortController();
    const deadline = new Deadline(systemClock, 1_000, 'route-default', parent.signal);
    expect(deadline.signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(1);
    parent.abort();
    expect(deadline.signal.aborted).toBe(true);
    expect(deadline.signal.reason).toBeInstanceOf(ClientAbortedError);
    expect(deadline.clientAborted).toBe(true);
    expect(deadline.expired).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    // The budget running out later changes nothing.
    vi.advanceTimersByTime(2_000);
    expect(deadline.signal.reason).toBeInstanceOf(ClientAbortedError);
  });

  it('starts aborted, with no timer, when the parent is already aborted', () => {
    const parent = new AbortController();
    parent.abort();
    const deadline = new Deadline(systemClock, 1_000, 'route-default', parent.signal);
    expect(deadline.signal.reason).toBeInstanceOf(ClientAbortedError);
    expect(deadline.clientAborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("runs out, not 'client aborted', when its parent is an enclosing deadline that ran out first", () => {
    // A guard.middleware() call inside a guarded request: the request's deadline is the call's parent. Its
    // timer may fire before the call's own (a timer can fire a little early on a busy loop): a 504 still.
    const outer = new Deadline(systemClock, 500, 'caller-header');
    const inner = new Deadline(systemClock, 1_000, 'caller-header', outer.signal);
    expect(inner.signal.aborted).toBe(false);
    vi.advanceTimersByTime(500);
    expect(inner.signal.reason).toBeInstanceOf(DeadlineExceededError);
    expect(inner.expired).toBe(true);
    expect(inner.clientAborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    // Already spent when the call begins: the same.
    const late = new Deadline(systemClock, 1_000, 'caller-header', outer.signal);
    expect(late.signal.reason).toBeInstanceOf(DeadlineExceededError);
    expect(late.clientAborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an enclosing deadline whose client left still means the client left', () => {
    const client = new AbortController();
    const outer = new Deadline(systemClock, 500, 'caller-header', client.signal);
    const inner = new Deadline(systemClock, 400, 'caller-header', outer.signal);
    expect(inner.signal.aborted).toBe(false);
    client.abort();
    expect(inner.clientAborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('dispose() clears the timer and detaches from the parent; it is idempotent', () => {
    const parent = new AbortController();
    const deadline = new Deadline(systemClock, 100, 'caller-header', parent.signal);
    expect(deadline.signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(1);
    deadline.dispose();
    expect(vi.getTimerCount()).toBe(0);
    deadline.dispose();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1_000);
    parent.abort();
    expect(deadline.signal.aborted).toBe(false);
    // `expired` still tells the truth from the clock.
    expect(deadline.expired).toBe(true);
  });

  it('abortForClient() aborts with ClientAbortedError and releases the timer', () => {
    const deadline = new Deadline(systemClock, 100, 'route-default');
    deadline.abortForClient();
    expect(deadline.signal.reason).toBeInstanceOf(ClientAbortedError);
    expect(vi.getTimerCount()).toBe(0);
    deadline.abortForClient();
    expect(deadline.signal.reason).toBeInstanceOf(ClientAbortedError);
  });

  it('keeps the first reason: a client abort after expiry does not rewrite it', () => {
    const parent = new AbortController();
    const deadline = new Deadline(systemClock, 10, 'caller-header', parent.signal);
    vi.advanceTimersByTime(10);
    parent.abort();
    expect(deadline.signal.reason).toBeInstanceOf(DeadlineExceededError);
    expect(deadline.clientAborted).toBe(false);
  });

  it('reports expired from the clock even before its timer has fired', () => {
    let now = 1_000;
    const pending: (() => void)[] = [];
    const clock: Clock = {
      now: () => now,
      setTimeout: (callback) => {
        pending.push(callback);
        return pending.length;
      },
      clearTimeout: () => {},
    };
    const deadline = new Deadline(clock, 200, 'route-default');
    expect(deadline.at).toBe(1_200);
    expect(deadline.signal.aborted).toBe(false); // arms the timer
    now = 1_150;
    expect(deadline.remaining()).toBe(50);
    expect(deadline.expired).toBe(false);
    now = 1_200;
    expect(deadline.expired).toBe(true);
    expect(deadline.signal.aborted).toBe(false);
    pending[0]!();
    expect(deadline.signal.reason).toBeInstanceOf(DeadlineExceededError);
  });

  it('is lazy: no timer and no signal until something waits; the clock still says when it ran out', () => {
    const deadline = new Deadline(systemClock, 100, 'route-default');
    vi.advanceTimersByTime(150);
    expect(vi.getTimerCount()).toBe(0);
    expect(deadline.expired).toBe(true);
    expect(deadline.clientAborted).toBe(false);
    // Read after the budget ran out, the signal is born aborted, and no timer is armed for it.
    expect(deadline.signal.reason).toBeInstanceOf(DeadlineExceededError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('arms its timer for the time left, not the whole budget, when first waited for', () => {
    const deadline = new Deadline(systemClock, 100, 'route-default');
    vi.advanceTimersByTime(70);
    expect(deadline.signal.aborted).toBe(false);
    vi.advanceTimersByTime(29);
    expect(deadline.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(deadline.signal.reason).toBeInstanceOf(DeadlineExceededError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('arms nothing once disposed: a signal read after the request ended never aborts', () => {
    const deadline = new Deadline(systemClock, 100, 'route-default');
    deadline.dispose();
    expect(deadline.signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    const listener = vi.fn();
    expect(onDeadlineAbort(deadline, listener)).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(200);
    expect(listener).not.toHaveBeenCalled();
    expect(deadline.signal.aborted).toBe(false);
  });

  it('keeps the reason it had when disposed after its budget ran out, timer or not', () => {
    const deadline = new Deadline(systemClock, 100, 'route-default');
    vi.advanceTimersByTime(100);
    deadline.dispose();
    expect(deadline.signal.reason).toBeInstanceOf(DeadlineExceededError);
  });

  it('toHeaders() carries the time left', () => {
    const deadline = new Deadline(systemClock, 1_500, 'caller-header');
    vi.advanceTimersByTime(266);
    expect(deadline.toHeaders()).toEqual({
      'x-request-timeout-ms': '1234',
      'x-envoy-expected-rq-timeout-ms': '1234',
      'grpc-timeout': '1234m',
    });
    expect(deadline.toHeaders(['x-budget-ms'])).toEqual({ 'x-budget-ms': '1234' });
    deadline.dispose();
  });
});

describe('Deadline listeners', () => {
  it('adds no listener to a parent that is already aborted', () => {
    const parent = new AbortController();
    parent.abort();
    const add = vi.spyOn(parent.signal, 'addEventListener');
    const deadline = new Deadline(systemClock, 1_000, 'route-default', parent.signal);
    expect(add).not.toHaveBeenCalled();
    expect(deadline.clientAborted).toBe(true);
  });

  it('removes its one parent listener when the budget runs out, so a later abort is ignored', () => {
    const parent = new AbortController();
    const add = vi.spyOn(parent.signal, 'addEventListener');
    const remove = vi.spyOn(parent.signal, 'removeEventListener');
    const deadline = new Deadline(systemClock, 10, 'route-default', parent.signal);
    expect(add).toHaveBeenCalledTimes(1);
    expect(deadline.signal.aborted).toBe(false); // arms the timer
    vi.advanceTimersByTime(10);
    expect(remove).toHaveBeenCalledTimes(1);
    expect(remove.mock.calls[0]![1]).toBe(add.mock.calls[0]![1]);
    // Already detached: disposing again touches the parent no more.
    deadline.dispose();
    expect(remove).toHaveBeenCalledTimes(1);
    parent.abort();
    expect(deadline.signal.reason).toBeInstanceOf(DeadlineExceededError);
  });
});

describe('onDeadlineAbort', () => {
  it('tells a listener the reason once, without making the signal, and arms the timer', () => {
    const deadline = new Deadline(systemClock, 100, 'route-default');
    const listener = vi.fn();
    expect(onDeadlineAbort(deadline, listener)).toBeUndefined();
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(listener).toHaveBeenCalledTimes(1);
    expect(listener.mock.calls[0]![0]).toBeInstanceOf(DeadlineExceededError);
    expect(deadlineAbortReason(deadline)).toBe(listener.mock.calls[0]![0]);
    expect(deadline.signal.reason).toBe(listener.mock.calls[0]![0]);
  });

  it('hears a client that goes away, and a listener removed with offDeadlineAbort hears nothing', () => {
    const parent = new AbortController();
    const deadline = new Deadline(systemClock, 1_000, 'route-default', parent.signal);
    const kept = vi.fn();
    const removed = vi.fn();
    onDeadlineAbort(deadline, kept);
    onDeadlineAbort(deadline, removed);
    offDeadlineAbort(deadline, removed);
    parent.abort();
    expect(kept).toHaveBeenCalledWith(expect.any(ClientAbortedError));
    expect(removed).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('tells every listener still registered, in order, whichever was removed', () => {
    const parent = new AbortController();
    const deadline = new Deadline(systemClock, 1_000, 'route-default', parent.signal);
    const heard: string[] = [];
    const first = () => heard.push('first');
    const second = () => heard.push('second');
    const third = () => heard.push('third');
    onDeadlineAbort(deadline, first);
    onDeadlineAbort(deadline, second);
    onDeadlineAbort(deadline, third);
    offDeadlineAbort(deadline, first);
    parent.abort();
    expect(heard).toEqual(['second', 'third']);
  });

  it('returns the reason at once, registering nothing, when the deadline has already aborted', () => {
    const deadline = new Deadline(systemClock, 100, 'route-default');
    vi.advanceTimersByTime(100);
    const listener = vi.fn();
    expect(onDeadlineAbort(deadline, listener)).toBeInstanceOf(DeadlineExceededError);
    expect(vi.getTimerCount()).toBe(0);
    expect(listener).not.toHaveBeenCalled();
  });

  it('deadlineAbortReason() reads the clock: undefined while live, the reason once spent', () => {
    const deadline = new Deadline(systemClock, 100, 'route-default');
    expect(deadlineAbortReason(deadline)).toBeUndefined();
    vi.advanceTimersByTime(100);
    expect(deadlineAbortReason(deadline)).toBeInstanceOf(DeadlineExceededError);
    deadline.abortForClient();
    expect(deadlineAbortReason(deadline)).toBeInstanceOf(DeadlineExceededError);
  });
});

describe('resolveDeadline', () => {
  const NOW = 10_000;
  const policy: DeadlinePolicy = {
    defaultMs: 60_000,
    maxMs: 300_000,
    reserveMs: 5,
    headers: DEFAULT_DEADLINE_HEADERS,
  };

  // A clock that records the timers asked of it and never fires them: every budget is read, not waited for.
  // A deadline arms its timer once something waits for it: `resolve` reads each deadline's signal.
  function recordingClock(): { clock: Clock; armed: number[] } {
    const armed: number[] = [];
    const clock: Clock = {
      now: () => NOW,
      setTimeout: (_callback, ms) => {
        armed.push(ms);
        return armed.length;
      },
      clearTimeout: () => {},
    };
    return { clock, armed };
  }

  function resolve(
    headers: Record<string, string>,
    options: { policy?: Partial<DeadlinePolicy>; signal?: AbortSignal } = {},
  ): { result: Deadline | ClaudeGuardError; armed: number[] } {
    const { clock, armed } = recordingClock();
    const result = resolveDeadline({
      headers: new Headers(headers),
      signal: options.signal,
      clock,
      policy: { ...policy, ...options.policy },
    });
    if (result instanceof Deadline && !result.signal.aborted) expect(armed).toHaveLength(1);
    return { result, armed };
  }

  function deadlineOf(result: Deadline | ClaudeGuardError): Deadline {
    if (!(result instanceof Deadline)) throw new Error(`expected a deadline, got ${result.status} ${result.message}`);
    return result;
  }

  function errorOf(result: Deadline | ClaudeGuardError): ClaudeGuardError {
    if (!(result instanceof ClaudeGuardError)) throw new Error(`expected an error, got a ${result.source} deadline`);
    return result;
  }

  it("uses the route's default, less the reserve, when the caller sends no deadline header", () => {
    const { result, armed } = resolve({});
    const deadline = deadlineOf(result);
    expect(deadline.source).toBe('route-default');
    expect(deadline.budgetMs).toBe(59_995);
    expect(deadline.at).toBe(NOW + 59_995);
    expect(armed).toEqual([59_995]);
  });

  it.each([
    ['x-request-timeout-ms', '2000', 1_995],
    ['x-envoy-expected-rq-timeout-ms', '1500', 1_495],
    ['grpc-timeout', '3S', 2_995],
    ['grpc-timeout', '750m', 745],
  ])("takes the caller's budget from %s: %s", (header, value, budgetMs) => {
    const { result, armed } = resolve({ [header]: value });
    const deadline = deadlineOf(result);
    expect(deadline.source).toBe('caller-header');
    expect(deadline.budgetMs).toBe(budgetMs);
    expect(armed).toEqual([budgetMs]);
  });

  it("takes the smallest of the caller's headers", () => {
    const { result } = resolve({ 'x-request-timeout-ms': '900', 'grpc-timeout': '1S' });
    expect(deadlineOf(result).budgetMs).toBe(895);
  });

  it("reads only the policy's headers", () => {
    const headers = { 'x-request-timeout-ms': '100', 'x-budget-ms': '2000' };
    const { result } = resolve(headers, { policy: { headers: ['x-budget-ms'] } });
    expect(deadlineOf(result)).toMatchObject({ source: 'caller-header', budgetMs: 1_995 });
  });

  it("caps a caller's budget at the route's maximum, and says so", () => {
    const { result, armed } = resolve({ 'x-request-timeout-ms': '300001' });
    expect(deadlineOf(result)).toMatchObject({ source: 'route-maximum', budgetMs: 299_995 });
    expect(armed).toEqual([299_995]);
    // At the maximum exactly, the budget is still the caller's.
    expect(deadlineOf(resolve({ 'x-request-timeout-ms': '300000' }).result).source).toBe('caller-header');
  });

  it('keeps back the reserve, but always leaves at least 1 ms', () => {
    expect(deadlineOf(resolve({ 'x-request-timeout-ms': '6' }).result).budgetMs).toBe(1);
    expect(deadlineOf(resolve({ 'x-request-timeout-ms': '5' }).result).budgetMs).toBe(1);
    expect(deadlineOf(resolve({ 'x-request-timeout-ms': '1' }).result).budgetMs).toBe(1);
    expect(deadlineOf(resolve({ 'x-request-timeout-ms': '7' }).result).budgetMs).toBe(2);
    const noReserve = resolve({ 'x-request-timeout-ms': '7' }, { policy: { reserveMs: 0 } });
    expect(deadlineOf(noReserve.result).budgetMs).toBe(7);
    const bigReserve = resolve({}, { policy: { defaultMs: 100, reserveMs: 500 } });
    expect(deadlineOf(bigReserve.result)).toMatchObject({ source: 'route-default', budgetMs: 1 });
  });

  it.each([
    ['x-request-timeout-ms', 'soon', 'must be an integer number of milliseconds'],
    ['x-envoy-expected-rq-timeout-ms', '1.5', 'must be an integer number of milliseconds'],
    ['grpc-timeout', '5 seconds', 'must be 1-8 digits followed by a unit H, M, S, m, u or n'],
  ])('answers a malformed %s with a 400 naming the header, and arms no timer', (header, value, reason) => {
    const { result, armed } = resolve({ [header]: value });
    const error = errorOf(result);
    expect(error).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      outcome: 'bad-request',
      message: `Header ${header}: ${reason}`,
      attempts: 0,
    });
    expect(armed).toEqual([]);
  });

  it.each(['0', '-1', '-250'])(
    "answers a caller's deadline already spent (%s) with a 504, and arms no timer",
    (value) => {
      const { result, armed } = resolve({ 'x-envoy-expected-rq-timeout-ms': value });
      expect(errorOf(result)).toMatchObject({
        status: 504,
        type: 'timeout_error',
        outcome: 'deadline-exceeded',
        message:
          "Header x-envoy-expected-rq-timeout-ms: the caller's deadline had already passed; Claude was not called",
      });
      expect(armed).toEqual([]);
    },
  );

  it('answers 400, not 504, when one header is spent and another malformed', () => {
    const { result, armed } = resolve({ 'x-request-timeout-ms': '0', 'grpc-timeout': 'never' });
    expect(errorOf(result)).toMatchObject({ status: 400, message: expect.stringMatching(/^Header grpc-timeout: /) });
    expect(armed).toEqual([]);
  });

  it('gives a deadline already aborted for the client, with no timer, when the client has gone', () => {
    const client = new AbortController();
    client.abort();
    const add = vi.spyOn(client.signal, 'addEventListener');
    const { result, armed } = resolve({ 'x-request-timeout-ms': '2000' }, { signal: client.signal });
    const deadline = deadlineOf(result);
    expect(deadline.clientAborted).toBe(true);
    expect(deadline.signal.reason).toBeInstanceOf(ClientAbortedError);
    expect(deadline.source).toBe('caller-header');
    expect(armed).toEqual([]);
    expect(add).not.toHaveBeenCalled();
  });

  it('still rejects a malformed header when the client has gone', () => {
    const client = new AbortController();
    client.abort();
    const { result } = resolve({ 'x-request-timeout-ms': 'x' }, { signal: client.signal });
    expect(errorOf(result).status).toBe(400);
  });

  it('follows a live client signal: the deadline aborts for the client when it does', () => {
    const client = new AbortController();
    const deadline = deadlineOf(resolve({}, { signal: client.signal }).result);
    expect(deadline.signal.aborted).toBe(false);
    client.abort();
    expect(deadline.clientAborted).toBe(true);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock, type Clock } from './clock.js';
import { ClientAbortedError, Deadline, DeadlineExceededError } from './deadline.js';

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
  ] as const)('names the %s source in its reason', (source, message) => {
    const deadline = new Deadline(systemClock, 50, source);
    vi.advanceTimersByTime(50);
    expect((deadline.signal.reason as Error).message).toBe(message);
  });

  it('aborts with ClientAbortedError when the parent signal aborts, and clears its timer', () => {
    const parent = new AbortController();
    const deadline = new Deadline(systemClock, 1_000, 'route-default', parent.signal);
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

  it('dispose() clears the timer and detaches from the parent; it is idempotent', () => {
    const parent = new AbortController();
    const deadline = new Deadline(systemClock, 100, 'caller-header', parent.signal);
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
    now = 1_150;
    expect(deadline.remaining()).toBe(50);
    expect(deadline.expired).toBe(false);
    now = 1_200;
    expect(deadline.expired).toBe(true);
    expect(deadline.signal.aborted).toBe(false);
    pending[0]!();
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

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClaudeClient } from './claude-client.js';
import { createClaudeGuard, type ClaudeGuard } from './guard.js';
import { ClaudeGuardError } from './guard-error.js';
import type { AttemptContext } from './retry-loop.js';

// guard.run's own deadline (deadlineMs), on fake timers: a background job's budget without a route
// of its own.

const client = { messages: { create: () => Promise.reject(new Error('not used')) } } as unknown as ClaudeClient;

const guards: ClaudeGuard[] = [];
function makeGuard(): ClaudeGuard {
  const guard = createClaudeGuard({ client, deadline: { reserveMs: 0 }, retry: { maxAttempts: 1 } });
  guards.push(guard);
  return guard;
}

/** An attempt that never answers, and ends when its signal aborts (as an SDK call given the signal). */
function hanging(attempt: AttemptContext): Promise<never> {
  return new Promise((_, reject) => {
    attempt.signal.addEventListener('abort', () => reject(attempt.signal.reason as Error), { once: true });
  });
}

/** The promise's outcome once known: its error, or 'pending'. */
function track(promise: Promise<unknown>): { readonly state: unknown } {
  const tracked = { state: 'pending' as unknown };
  promise.then(
    (value) => (tracked.state = { value }),
    (error: unknown) => (tracked.state = error),
  );
  return tracked;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  for (const guard of guards.splice(0)) guard.close();
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('guard.run with deadlineMs', () => {
  it("runs the call under its own budget instead of the route's default: 504 at deadlineMs, not before", async () => {
    const guard = makeGuard();
    const timeouts: number[] = [];
    const run = track(
      guard.run(
        'nightly-report',
        (attempt) => {
          timeouts.push(attempt.timeout);
          return hanging(attempt);
        },
        { deadlineMs: 2_000 },
      ),
    );
    await vi.advanceTimersByTimeAsync(1_999);
    expect(run.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(run.state).toBeInstanceOf(ClaudeGuardError);
    expect(run.state).toMatchObject({ status: 504, outcome: 'deadline-exceeded' });
    expect((run.state as ClaudeGuardError).message).toContain('2000 ms');
    // Names the budget that ran out: the call's own, not the route's default.
    expect((run.state as ClaudeGuardError).message).toContain("call's own deadline (deadlineMs)");
    expect((run.state as ClaudeGuardError).message).not.toContain('default');
    expect(timeouts).toEqual([2_000]);
  });

  it("may be longer than the route's default, up to its maximum", async () => {
    const guard = makeGuard();
    const timeouts: number[] = [];
    const run = track(
      guard.run(
        'long-job',
        (attempt) => {
          timeouts.push(attempt.timeout);
          return hanging(attempt);
        },
        { deadlineMs: 240_000 },
      ),
    );
    await vi.advanceTimersByTimeAsync(60_000);
    expect(run.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(180_000);
    expect(run.state).toMatchObject({ status: 504 });
    expect(timeouts).toEqual([240_000]);
  });

  it("leaves the route's own default to every other call, and works with a route from guard.route()", async () => {
    const guard = makeGuard();
    const route = guard.route({ route: 'mounted', deadline: { defaultMs: 10_000 } });
    const timeouts: number[] = [];
    const fn = (attempt: AttemptContext) => {
      timeouts.push(attempt.timeout);
      return Promise.resolve('ok');
    };
    await guard.run(route, fn, { deadlineMs: 500 });
    await guard.run(route, fn);
    await guard.run('mounted', fn, { deadlineMs: 700 });
    expect(timeouts).toEqual([500, 10_000, 700]);
  });

  it("yields to a caller's shorter deadline header, as the route's default does", async () => {
    const guard = makeGuard();
    const timeouts: number[] = [];
    await guard.run(
      'job',
      (attempt) => {
        timeouts.push(attempt.timeout);
        return Promise.resolve('ok');
      },
      { deadlineMs: 5_000, headers: new Headers({ 'x-request-timeout-ms': '300' }) },
    );
    expect(timeouts).toEqual([300]);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 300_001, '5000'])(
    'rejects deadlineMs %s with a TypeError naming it and the limit, before any attempt',
    async (deadlineMs) => {
      const guard = makeGuard();
      const fn = vi.fn(() => Promise.resolve('ok'));
      const run = guard.run('job', fn, { deadlineMs: deadlineMs as number });
      await expect(run).rejects.toThrow(TypeError);
      await expect(run).rejects.toThrow("option `deadlineMs` of guard.run('job')");
      await expect(run).rejects.toThrow("at most the route's deadline.maxMs (300000)");
      expect(fn).not.toHaveBeenCalled();
    },
  );

  it('refuses deadlineMs for a route of another guard: it cannot read its deadline options', async () => {
    const other = makeGuard().route({ route: 'theirs' });
    await expect(makeGuard().run(other, () => Promise.resolve(1), { deadlineMs: 100 })).rejects.toThrow(
      "guard.run('theirs', fn, { deadlineMs }) needs a route of this guard",
    );
  });
});

import type { Clock, GuardEventListener, TimerHandle } from '@claude-guard/core';
import { AsyncLocalStorage } from 'node:async_hooks';
import { vi } from 'vitest';
import {
  manualClock as coreManualClock,
  type ManualClock as CoreManualClock,
} from '../../packages/core/src/testing/manual-clock.js';

/**
 * A clock that only moves when told to: deadlines and attempt timers fire on `advance()`, and breakers
 * reach half-open on it. (The SDK's own per-attempt `timeout` still runs on real time.) The core's unit
 * tests' manual clock, plus {@link manualClock}'s `realBelowMs`.
 */
export type ManualClock = CoreManualClock;

/**
 * A {@link ManualClock} starting at `start` ms. Timers shorter than `realBelowMs` (default 0: none) run on
 * real time instead, e.g. the retry backoff, so a retry needs no `advance()` while the timeouts still do.
 *
 * @example
 * ```ts
 * const clock = manualClock();
 * const h = await startStack({ adapter, guard: { clock } });
 * clock.advance(10_000); // every deadline due by then fires
 * ```
 */
export function manualClock(start = 1_000_000, options: { realBelowMs?: number } = {}): ManualClock {
  const realBelowMs = options.realBelowMs ?? 0;
  const manual = coreManualClock(start);
  if (realBelowMs <= 0) return manual;
  return {
    now: () => manual.now(),
    setTimeout: (callback, ms) =>
      ms < realBelowMs ? { real: setTimeout(callback, ms) } : manual.setTimeout(callback, ms),
    clearTimeout(handle) {
      const real = (handle as { real?: ReturnType<typeof setTimeout> }).real;
      if (real !== undefined) clearTimeout(real);
      else manual.clearTimeout(handle);
    },
    advance: (ms) => manual.advance(ms),
    get pending() {
      return manual.pending;
    },
  };
}

/**
 * A deadline for tests on a {@link manualClock}: it runs out on `advance()` only. Long, because the SDK's
 * own timeout is armed from the time left and runs on real time: 30 s never fires during a test.
 */
export const MANUAL_DEADLINE_MS = 30_000;

/** Upstream headers that come long after any deadline of a test: the request is still waiting when it runs out. */
export const LATE_HEADERS = { kind: 'delay-headers', ms: 120_000 } as const;

/**
 * Starts `request`, waits until the upstream has received it, then moves `clock` on by `ms`: a deadline of
 * `ms` runs out while the upstream holds the request. (On real time, a loaded machine can spend a short
 * deadline before the attempt reached the upstream: no upstream request, or none to abort.)
 *
 * @example
 * ```ts
 * const clock = manualClock();
 * const h = await start(adapter, { guard: { clock } });
 * h.fake.enqueue(LATE_HEADERS);
 * const result = await runOutAtUpstream(h.fake, clock, () => h.chat({ 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) }));
 * expect(result.status).toBe(504);
 * ```
 */
export async function runOutAtUpstream<T>(
  upstream: { readonly requests: readonly unknown[] },
  clock: ManualClock,
  request: () => Promise<T>,
  ms = MANUAL_DEADLINE_MS,
): Promise<T> {
  const count = upstream.requests.length + 1;
  const answer = request();
  answer.catch(() => {}); // read by the caller; not unhandled while this waits
  await vi.waitFor(
    () => {
      if (upstream.requests.length < count) throw new Error(`the upstream has ${upstream.requests.length} requests`);
    },
    { timeout: 10_000, interval: 5 },
  );
  clock.advance(ms);
  return answer;
}

/** A guard timer, as {@link trackingClock} saw it armed. */
export interface TrackedTimer {
  ms: number;
  stack: string;
}

/** A real-time clock that watches the guard's timers: see {@link trackingClock}. */
export interface TrackingClock {
  readonly clock: Clock;
  /** Called when the request's log line is written: no guard timer may fire after it. */
  markEnded(): void;
  /** Timers armed and neither fired nor cleared. */
  pending(): TrackedTimer[];
  /** Timers that fired after {@link TrackingClock.markEnded}. */
  late(): TrackedTimer[];
}

/**
 * A clock whose timers are ordinary (ref'd) Node timers, so `process.getActiveResourcesInfo()` sees them
 * (the system clock unrefs its timers, which hides them from it), and which keeps a list of the guard's
 * pending timers and of those that fired after the request's log line was written.
 *
 * @example
 * ```ts
 * const timers = trackingClock();
 * const h = await startStack({ adapter, guard: { clock: timers.clock } });
 * h.guard.on((event) => event.type === 'request-end' && timers.markEnded());
 * // ... after the request:
 * expect(timers.pending()).toEqual([]);
 * expect(timers.late()).toEqual([]);
 * ```
 */
export function trackingClock(): TrackingClock {
  const pending = new Map<ReturnType<typeof setTimeout>, TrackedTimer>();
  const late: TrackedTimer[] = [];
  let ended = false;
  const clock: Clock = {
    now: () => Date.now(),
    setTimeout: (callback, ms) => {
      const info = { ms, stack: new Error().stack?.split('\n').slice(2, 6).join('\n') ?? '' };
      const handle = setTimeout(() => {
        pending.delete(handle);
        if (ended) late.push(info);
        callback();
      }, ms);
      pending.set(handle, info);
      return handle;
    },
    clearTimeout: (handle: TimerHandle) => {
      pending.delete(handle as ReturnType<typeof setTimeout>);
      clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
  };
  return {
    clock,
    markEnded: () => {
      ended = true;
    },
    pending: () => [...pending.values()],
    late: () => [...late],
  };
}

/** Global `setTimeout` held by {@link heldTimers}. */
export interface HeldTimers {
  /** Fires the held timers due within `ms`. */
  advance(ms: number): void;
  /** Polls `condition` without timers (every turn of the event loop) until it holds, or fails after `ms` of real time. */
  until(condition: () => boolean, what: string, ms?: number): Promise<void>;
  /** Real timers again; the timers still held never fire. */
  release(): void;
}

/**
 * Holds the global `setTimeout`: every timer armed from now on, by anyone (the fake's delays, the SDK's
 * timeouts), fires only on `advance()`. For the timers the guard's injectable clock does not reach, such
 * as the fake upstream's delays. Sockets, `setImmediate` and `Date` run as usual, so requests still flow.
 * Release it in a `finally`.
 *
 * @example
 * ```ts
 * const timers = heldTimers();
 * try {
 *   const answer = call(); // the fake's `delay-headers` timer is held: the call is surely in flight
 *   timers.advance(100);
 *   expect((await answer).status).toBe(200);
 * } finally {
 *   timers.release();
 * }
 * ```
 */
export function heldTimers(): HeldTimers {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  return {
    advance: (ms) => {
      vi.advanceTimersByTime(ms);
    },
    async until(condition, what, ms = 10_000) {
      const stop = Date.now() + ms;
      while (!condition()) {
        if (Date.now() > stop) throw new Error(`${what} (after ${ms} ms)`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
    release: () => {
      vi.useRealTimers();
    },
  };
}

/** A clock on which time stands still: see {@link stillClock}. */
export interface StillClock {
  readonly clock: Clock;
  /** Give it to `guard.on`: each `attempt` event says whose attempt the timers armed next belong to. */
  readonly onEvent: GuardEventListener;
  /** Fires the attempt timeout of `requestId`'s attempt in flight; false when it has none armed. */
  expire(requestId: string): boolean;
}

/**
 * A clock on which time stands still, for soaks whose counts must not depend on how fast the machine
 * runs them: the retry budget's and the breaker's windows span the whole run, and no deadline runs out.
 * Its timers:
 * - of `attemptTimeoutMs` (the route's attempt timeout): held per request, and fired by `expire(requestId)`,
 *   e.g. when the test sees that request's attempt stalled at the upstream. Only a stalled attempt is cut,
 *   never a healthy one that a loaded machine made slow;
 * - shorter than `realBelowMs` (the retry backoff): real timers;
 * - any other (the deadline, a body timeout): never fire.
 *
 * Whose attempt a timer belongs to comes from the `attempt` event the guard emits just before arming it,
 * carried in an `AsyncLocalStorage` along that request's own async path. (The SDK's own timeout, the
 * attempt timeout on real time, still runs: make it longer than any healthy attempt can take.)
 *
 * @example
 * ```ts
 * const still = stillClock({ attemptTimeoutMs: 60_000, realBelowMs: 1_000 });
 * const h = await startStack({ adapter, guard: { clock: still.clock }, proxy: { retry: { attemptTimeoutMs: 60_000 } } });
 * h.guard.on(still.onEvent);
 * still.expire('req-7'); // its attempt in flight times out now
 * ```
 */
export function stillClock(options: { attemptTimeoutMs: number; realBelowMs: number; start?: number }): StillClock {
  const now = options.start ?? 1_000_000;
  const attemptOf = new AsyncLocalStorage<string>();
  /** Held attempt timeouts by request id: a request has one attempt in flight at a time. */
  const attempts = new Map<string, { handle: object; callback: () => void }>();
  const held = new WeakSet<object>();
  return {
    clock: {
      now: () => now,
      setTimeout(callback, ms) {
        const requestId = attemptOf.getStore();
        if (ms === options.attemptTimeoutMs && requestId !== undefined) {
          const handle = { requestId };
          attempts.set(requestId, { handle, callback });
          held.add(handle);
          return handle;
        }
        if (ms < options.realBelowMs) return setTimeout(callback, ms);
        const never = {};
        held.add(never);
        return never;
      },
      clearTimeout(handle) {
        if (!held.has(handle as object)) {
          clearTimeout(handle as ReturnType<typeof setTimeout>);
          return;
        }
        const { requestId } = handle as { requestId?: string };
        if (requestId !== undefined && attempts.get(requestId)?.handle === handle) attempts.delete(requestId);
      },
    },
    onEvent(event) {
      if (event.type === 'attempt') attemptOf.enterWith(event.requestId);
    },
    expire(requestId) {
      const timer = attempts.get(requestId);
      if (!timer) return false;
      attempts.delete(requestId);
      timer.callback();
      return true;
    },
  };
}

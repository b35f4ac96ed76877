import type { Clock, TimerHandle } from '@claude-guard/core';

/**
 * A clock that only moves when told to: deadlines and attempt timers fire on `advance()`. (The SDK's
 * own per-attempt `timeout` and opossum's reset timer still run on real time.)
 */
export interface ManualClock extends Clock {
  advance(ms: number): void;
  /** Timers not yet fired or cleared. */
  readonly pending: number;
}

/**
 * A {@link ManualClock} starting at `start` ms.
 *
 * @example
 * ```ts
 * const clock = manualClock();
 * const h = await startStack({ adapter, guard: { clock } });
 * clock.advance(10_000); // every deadline due by then fires
 * ```
 */
export function manualClock(start = 1_000_000): ManualClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; callback: () => void }>();
  return {
    now: () => now,
    setTimeout(callback, ms) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), callback });
      return { id } satisfies TimerHandle;
    },
    clearTimeout(handle) {
      timers.delete((handle as { id: number }).id);
    },
    advance(ms) {
      now += ms;
      const due = [...timers.entries()].filter(([, timer]) => timer.at <= now).sort((a, b) => a[1].at - b[1].at);
      for (const [id, timer] of due) {
        if (!timers.delete(id)) continue;
        timer.callback();
      }
    },
    get pending() {
      return timers.size;
    },
  };
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

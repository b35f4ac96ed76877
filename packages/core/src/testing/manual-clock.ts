import type { Clock, TimerHandle } from '../clock.js';

/** A {@link Clock} that moves only on `advance()`, for the core's unit tests (not exported by the package). */
export interface ManualClock extends Clock {
  /** Moves time on by `ms` and fires every timer due by then, earliest first. */
  advance(ms: number): void;
  /** Timers not yet fired or cleared. */
  readonly pending: number;
}

/**
 * A {@link ManualClock} starting at `start` epoch ms.
 *
 * @example
 * ```ts
 * const clock = manualClock();
 * clock.setTimeout(() => console.log('due'), 500);
 * clock.advance(500); // logs 'due'
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
      timers.set(id, { at: now + ms, callback });
      return { id } satisfies TimerHandle;
    },
    clearTimeout(handle) {
      timers.delete((handle as { id: number }).id);
    },
    advance(ms) {
      now += ms;
      for (const [id, timer] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (timer.at <= now && timers.delete(id)) timer.callback();
      }
    },
    get pending() {
      return timers.size;
    },
  };
}

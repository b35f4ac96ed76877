/**
 * An opaque timer handle, whatever the platform's `setTimeout` returns.
 *
 * @example
 * ```ts
 * const handle: TimerHandle = clock.setTimeout(() => {}, 100);
 * clock.clearTimeout(handle);
 * ```
 */
export type TimerHandle = object | number;

/**
 * Time as the guard sees it. Injectable so tests drive deadlines, backoff and breakers
 * with fake timers instead of real waits.
 *
 * @example
 * ```ts
 * const guard = createClaudeGuard({ client, clock: { now: () => 0, setTimeout, clearTimeout } });
 * ```
 */
export interface Clock {
  now: () => number;
  setTimeout: (callback: () => void, ms: number) => TimerHandle;
  clearTimeout: (handle: TimerHandle) => void;
}

/**
 * The real clock. Globals are looked up on every call, not captured at import, so that
 * `vi.useFakeTimers()` installed after this module loads still takes effect.
 *
 * @example
 * ```ts
 * const started = systemClock.now();
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  // Not unref'd: a script awaiting `guard.run()` must stay alive through a retry wait, and
  // every timer is cleared when its request ends anyway.
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Resolves after `ms`, or rejects with the signal's reason as soon as it aborts.
 * Leaves no timer or listener behind either way.
 *
 * @example
 * ```ts
 * await sleep(systemClock, 500, deadline.signal);
 * ```
 */
export function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(signal.reason as Error);
    };
    const handle = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

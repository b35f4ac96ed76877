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

/**
 * What {@link raceWithTimeout} settles with: the promise's value, or that the time ran out first.
 *
 * @example
 * ```ts
 * const result: Timed<number> = await raceWithTimeout(clock, promise, 100);
 * if (!result.timedOut) console.log(result.value);
 * ```
 */
export type Timed<T> = { timedOut: true } | { timedOut: false; value: T };

/**
 * Races `promise` against a timer on `clock`; the timer is cleared as soon as the promise settles,
 * and a rejection passes through. The promise itself is left running either way.
 *
 * @example
 * ```ts
 * const next = await raceWithTimeout(clock, reader.read(), heartbeatMs);
 * if (next.timedOut) return PING;
 * ```
 */
export function raceWithTimeout<T>(clock: Clock, promise: Promise<T>, ms: number): Promise<Timed<T>> {
  return new Promise((resolve, reject) => {
    const handle = clock.setTimeout(() => resolve({ timedOut: true }), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(handle);
        resolve({ timedOut: false, value });
      },
      (error: unknown) => {
        clock.clearTimeout(handle);
        reject(error);
      },
    );
  });
}

/**
 * `promise`, or a rejection with `reason(ms)` if it has not settled within `ms` on `clock`; the
 * timer is cleared as soon as the promise settles. The promise itself is left running (abort it
 * through its own signal). `reason` is called only on a timeout, so pass a shared function rather
 * than a fresh closure.
 *
 * @example
 * ```ts
 * const timedOut = (ms: number) => new AttemptTimeoutError(ms);
 * await withTimeout(clock, attempt, 30_000, timedOut);
 * ```
 */
export function withTimeout<T>(
  clock: Clock,
  promise: Promise<T>,
  ms: number,
  reason: (ms: number) => unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const handle = clock.setTimeout(() => reject(reason(ms)), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(handle);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(handle);
        reject(error);
      },
    );
  });
}

/**
 * A promise that rejects with the signal's reason when it aborts (at once if it already has).
 * The listener is removed by the abort itself (`once`); use only with signals that are aborted or
 * disposed by the end of the request, so the pending promise is collected with them.
 *
 * @example
 * ```ts
 * await Promise.race([callerCode(), abortAsPromise(attempt.signal)]);
 * ```
 */
export function abortAsPromise(signal: AbortSignal): Promise<never> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}

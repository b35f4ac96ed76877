/**
 * Waits `ms` on a `setTimeout` that is cleared as soon as `signal` aborts, so a cancelled request or a
 * closed server leaves no timer behind. Never rejects: the result says whether the wait ran to the end.
 *
 * @param ms - milliseconds; 0 or less resolves at once
 * @param signal - aborts the wait
 * @returns true if the time elapsed, false if `signal` aborted first
 * @example
 * ```ts
 * if (!(await sleep(50, request.signal))) return; // the client went away
 * ```
 */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Resolves when `signal` aborts. A stall is this promise: no timer, the open socket is what is held.
 *
 * @param signal - the signal to wait for
 * @returns a promise resolved on abort
 * @example
 * ```ts
 * await waitForAbort(request.signal); // stall until the client or the server gives up
 * ```
 */
export function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

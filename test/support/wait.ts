/**
 * Polls until `read()` equals `expected` (deep, as JSON) or `tries` polls passed; returns the last value.
 *
 * @example
 * ```ts
 * expect(await eventually(() => client.sockets(), 0)).toBe(0);
 * ```
 */
export async function eventually<T>(read: () => T | Promise<T>, expected: T, tries = 100, intervalMs = 50): Promise<T> {
  let value = await read();
  for (let i = 0; i < tries && JSON.stringify(value) !== JSON.stringify(expected); i++) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    value = await read();
  }
  return value;
}

/**
 * Polls `read` every `interval` ms until it has returned the same value `stableFor` times in a row:
 * the value a process settled on once it stopped making progress.
 *
 * @example
 * ```ts
 * const sentWhilePaused = await settledValue(() => h.fake.requests[0]!.eventsSent);
 * ```
 */
export async function settledValue(read: () => number, interval = 50, stableFor = 6): Promise<number> {
  let last = read();
  let same = 0;
  for (let i = 0; i < 400; i++) {
    await new Promise((resolve) => setTimeout(resolve, interval));
    const now = read();
    same = now === last ? same + 1 : 0;
    if (same >= stableFor) return now;
    last = now;
  }
  throw new Error('the value never stopped changing');
}

/**
 * Resolves with `promise`, or fails with `what` after `ms` (instead of hanging until the test timeout).
 *
 * @example
 * ```ts
 * await within(h.fake.settled(), 5_000, 'upstream requests were left open');
 * ```
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} (after ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach } from 'vitest';

/**
 * Counts of the resources keeping the process alive, by type (`TCPSocketWrap`, `Timeout`, ...):
 * `process.getActiveResourcesInfo()` grouped.
 *
 * @example
 * ```ts
 * const handlesBefore = activeResources();
 * ```
 */
export function activeResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo().sort()) out[name] = (out[name] ?? 0) + 1;
  return out;
}

/**
 * The resource types (and how many) above `baseline`: `{}` when nothing was left behind.
 *
 * @example
 * ```ts
 * expect(await eventually(() => resourcesAbove(handlesBefore), {})).toEqual({});
 * ```
 */
export function resourcesAbove(baseline: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, count] of Object.entries(activeResources())) {
    if (count > (baseline[name] ?? 0)) out[name] = count - (baseline[name] ?? 0);
  }
  return out;
}

/**
 * Node timers keeping the process alive right now (unref'd ones are not counted).
 *
 * @example
 * ```ts
 * expect(activeTimeouts()).toBeLessThanOrEqual(baseline);
 * ```
 */
export function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
}

/** What {@link useProcessWatch} saw during the current test. */
export interface ProcessWatch {
  /** Reasons of unhandled promise rejections. */
  readonly unhandled: unknown[];
  /** `MaxListenersExceededWarning`s: a listener added per request and never removed. */
  readonly maxListenerWarnings: Error[];
}

/**
 * Registers hooks that listen, for each test, for unhandled rejections and max-listener warnings
 * anywhere in the process. Call it after the `afterEach` that closes the stack, so the listeners come
 * off before the stack closes (hooks after a test run in reverse order).
 *
 * @example
 * ```ts
 * const watch = useProcessWatch();
 * it('...', async () => {
 *   // ... load
 *   expect(watch.unhandled).toEqual([]);
 *   expect(watch.maxListenerWarnings).toEqual([]);
 * });
 * ```
 */
export function useProcessWatch(): ProcessWatch {
  const watch = { unhandled: [] as unknown[], maxListenerWarnings: [] as Error[] };
  const onUnhandled = (reason: unknown) => watch.unhandled.push(reason);
  const onWarning = (warning: Error) => {
    if (warning.name === 'MaxListenersExceededWarning') watch.maxListenerWarnings.push(warning);
  };
  beforeEach(() => {
    watch.unhandled.length = 0;
    watch.maxListenerWarnings.length = 0;
    process.on('unhandledRejection', onUnhandled);
    process.on('warning', onWarning);
  });
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
    process.off('warning', onWarning);
  });
  return watch;
}

/**
 * `global.gc`, or V8's gc exposed at runtime when the worker was started without `--expose-gc`.
 *
 * @example
 * ```ts
 * const gc = findGc();
 * ```
 */
export function findGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  return typeof gc === 'function' ? (gc as () => void) : undefined;
}

/**
 * The heap used once timers have run and three gcs (when available) have passed.
 *
 * @example
 * ```ts
 * const heapBefore = await heapAfterGc(findGc());
 * ```
 */
export async function heapAfterGc(gc: (() => void) | undefined): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}

/**
 * Heap plus array buffers (a held chunk is an ArrayBuffer, a parsed event is heap), after a full gc.
 *
 * @example
 * ```ts
 * const before = liveBytes(gc);
 * ```
 */
export function liveBytes(gc: () => void): number {
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

import { EventEmitter } from 'node:events';

// On Node 20 an `AbortSignal` costs about 3 us of CPU to build (its prototype is set after the
// fact) and more again to collect; on Node 22 it costs 0.1 us. The guard's own SDK calls need a
// signal the SDK can listen on, never one anybody keeps: so they borrow one from here and give it
// back once the call is over, when it is provably clean. Everything handed to user code (the
// deadline's `signal`, a caller's attempt signal) stays a fresh one.

/** Idle controllers kept at most: enough for the calls one process has in flight at a time. */
const MAX_IDLE = 64;
const idle: AbortController[] = [];
/** Signals that must not be reused: something may hold on to them (a composite made with `AbortSignal.any`). */
const kept = new WeakSet<AbortSignal>();

const getListeners = (EventEmitter as { getEventListeners?: (target: EventTarget, type: string) => unknown[] })
  .getEventListeners;

/** Whether nothing listens on `signal` any more; `false` when the runtime cannot tell. */
function unheard(signal: AbortSignal): boolean {
  if (typeof getListeners !== 'function') return false;
  try {
    return getListeners(signal, 'abort').length === 0;
  } catch {
    return false;
  }
}

/**
 * An `AbortController` for one SDK call of the guard's own: a clean reused one, or a new one.
 * Hand its signal only to code that removes its listeners when done (the SDK does once the body
 * is read), and give it back with {@link releaseController}.
 *
 * @returns A controller whose signal is not aborted and has no listener.
 *
 * @example
 * ```ts
 * const controller = borrowController();
 * try { await client.messages.create(params, { signal: controller.signal }); }
 * finally { releaseController(controller); }
 * ```
 */
export function borrowController(): AbortController {
  return idle.pop() ?? new AbortController();
}

/**
 * Takes back a controller from {@link borrowController}. It is kept for reuse only if it was never
 * aborted, nothing listens on its signal any more, and it was not marked with {@link keepSignal};
 * otherwise it is dropped, as a fresh one would have been.
 *
 * @example
 * ```ts
 * releaseController(controller);
 * ```
 */
export function releaseController(controller: AbortController): void {
  const signal = controller.signal;
  if (signal.aborted || idle.length >= MAX_IDLE || kept.has(signal) || !unheard(signal)) return;
  idle.push(controller);
}

/**
 * Marks a signal as held beyond its call (it became a source of `AbortSignal.any`, which links to it
 * without a listener): its controller is then never reused.
 *
 * @example
 * ```ts
 * keepSignal(context.signal);
 * const signal = AbortSignal.any([context.signal, callerSignal]);
 * ```
 */
export function keepSignal(signal: AbortSignal): void {
  kept.add(signal);
}

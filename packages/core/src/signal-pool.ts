// On Node 20 an `AbortSignal` costs about 3 us of CPU to build (its prototype is set after the
// fact) and more again to collect; on Node 22 it costs 0.1 us. The guard's own SDK calls need a
// signal the SDK or its fetch can listen on, never one anybody keeps: so they borrow one here and give it
// back once the call is over, when it is provably clean. Everything handed to user code (the
// deadline's `signal`, a caller's attempt signal) stays a fresh one.
//
// "Clean" is proven by the pool itself, portably (no `node:events` `getEventListeners`): a pooled
// signal's `addEventListener` and `removeEventListener` are own methods that keep count of its
// `abort` listeners before handing over to `EventTarget`'s. A listener the count cannot see leave
// (a runtime that removes a `{ signal }` listener without calling `removeEventListener`) keeps the
// signal from being reused: the count errs only towards a fresh controller.

/** Idle controllers kept at most: enough for the calls one process has in flight at a time. */
const MAX_IDLE = 64;

/**
 * A pooled controller's `abort` listeners, keyed as `EventTarget` keys them (listener and capture
 * flag). The usual one (the SDK's, for one call) sits in a slot, so lending and giving back
 * allocate nothing; more go to a list.
 */
class Heard {
  #listener: unknown = undefined;
  #capture = false;
  #more: { listener: unknown; capture: boolean }[] | undefined = undefined;

  get empty(): boolean {
    return this.#listener === undefined && (this.#more === undefined || this.#more.length === 0);
  }

  add(listener: unknown, capture: boolean): void {
    if (this.#listener === listener && this.#capture === capture) return;
    if (this.#indexOf(listener, capture) !== -1) return;
    if (this.#listener === undefined) {
      this.#listener = listener;
      this.#capture = capture;
    } else {
      (this.#more ??= []).push({ listener, capture });
    }
  }

  delete(listener: unknown, capture: boolean): void {
    if (this.#listener === listener && this.#capture === capture) {
      this.#listener = undefined;
      return;
    }
    const index = this.#indexOf(listener, capture);
    if (index !== -1) this.#more!.splice(index, 1);
  }

  #indexOf(listener: unknown, capture: boolean): number {
    const more = this.#more;
    if (more === undefined) return -1;
    for (let i = 0; i < more.length; i++) {
      if (more[i]!.listener === listener && more[i]!.capture === capture) return i;
    }
    return -1;
  }
}

const HEARD = Symbol('claude-guard.heard');
type PooledController = AbortController & { readonly [HEARD]: Heard };
type HeardSignal = AbortSignal & { [HEARD]: Heard };

const idle: PooledController[] = [];
/** Signals that must not be reused: something may hold on to them (a composite made with `AbortSignal.any`). */
const kept = new WeakSet<AbortSignal>();

// Always called with `.call(signal)`, so unbound is what we want.
// eslint-disable-next-line @typescript-eslint/unbound-method
const addListener = EventTarget.prototype.addEventListener;
// eslint-disable-next-line @typescript-eslint/unbound-method
const removeListener = EventTarget.prototype.removeEventListener;

function capturesOf(options: boolean | EventListenerOptions | undefined): boolean {
  return typeof options === 'boolean' ? options : options?.capture === true;
}

// The counting methods, made once and shared by every pooled signal (each finds its count under
// `HEARD`): a controller that is never reused (a fetch kept listening) then costs no closures.
function countingAdd(
  this: AbortSignal,
  type: string,
  listener: EventListenerOrEventListenerObject | null,
  options?: boolean | AddEventListenerOptions,
): void {
  addListener.call(this, type, listener, options);
  // Counted once `EventTarget` took it; listeners of other types never hear an abort.
  if (type === 'abort' && listener !== null) (this as HeardSignal)[HEARD].add(listener, capturesOf(options));
}

function countingRemove(
  this: AbortSignal,
  type: string,
  listener: EventListenerOrEventListenerObject | null,
  options?: boolean | EventListenerOptions,
): void {
  removeListener.call(this, type, listener, options);
  if (type === 'abort' && listener !== null) (this as HeardSignal)[HEARD].delete(listener, capturesOf(options));
}

/** A controller whose signal counts its `abort` listeners with the shared methods above. */
function pooledController(): PooledController {
  const controller = new AbortController() as AbortController & { [HEARD]: Heard };
  const signal = controller.signal as HeardSignal;
  const heard = new Heard();
  signal[HEARD] = heard;
  signal.addEventListener = countingAdd;
  signal.removeEventListener = countingRemove;
  controller[HEARD] = heard;
  return controller;
}

/**
 * An `AbortController` for one SDK call of the guard's own: a clean reused one, or a new one.
 * Its signal may go to code that keeps listening (undici's `Request` does until it is collected):
 * such a controller is simply not reused. Give it back with {@link releaseController}.
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
  return idle.pop() ?? pooledController();
}

/**
 * Takes back a controller from {@link borrowController}. It is kept for reuse only if it was never
 * aborted, nothing listens on its signal any more (no `abort` listener, no `onabort`), and it was
 * not marked with {@link keepSignal}; otherwise it is dropped, as a fresh one would have been.
 *
 * @example
 * ```ts
 * releaseController(controller);
 * ```
 */
export function releaseController(controller: AbortController): void {
  const signal = controller.signal;
  const heard = (controller as Partial<PooledController>)[HEARD];
  if (heard === undefined || signal.aborted || idle.length >= MAX_IDLE || kept.has(signal)) return;
  if (!heard.empty || signal.onabort !== null) return;
  idle.push(controller as PooledController);
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

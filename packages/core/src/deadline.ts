import type { Clock, TimerHandle } from './clock.js';
import { deadlineToHeaders } from './deadline-header.js';

/**
 * Which budget a deadline came from; named in the 504 so callers know whose clock ran out.
 *
 * @example
 * ```ts
 * if (deadline.source === 'caller-header') console.log('the caller chose this budget');
 * ```
 */
export type DeadlineSource = 'route-default' | 'caller-header' | 'route-maximum';

/**
 * Abort reason when the request's time budget runs out.
 *
 * @example
 * ```ts
 * if (deadline.signal.reason instanceof DeadlineExceededError) console.log(deadline.signal.reason.source);
 * ```
 */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
  constructor(
    readonly source: DeadlineSource,
    readonly budgetMs: number,
  ) {
    super(`The ${describeSource(source)} of ${budgetMs} ms ran out`);
  }
}

/**
 * Abort reason when the end user goes away (socket closed, tab closed, stream cancelled).
 *
 * @example
 * ```ts
 * if (deadline.signal.reason instanceof ClientAbortedError) return; // nobody is listening any more
 * ```
 */
export class ClientAbortedError extends Error {
  override readonly name = 'ClientAbortedError';
  constructor() {
    super('The client closed the connection');
  }
}

function describeSource(source: DeadlineSource): string {
  switch (source) {
    case 'caller-header':
      return "caller's deadline (from the request header)";
    case 'route-maximum':
      return "route's maximum deadline";
    case 'route-default':
      return "route's default deadline";
  }
}

/**
 * The whole request's time budget. Its `signal` aborts when the budget runs out or when the
 * client disconnects, and every Claude attempt made under it derives its own signal from it.
 * Built on `setTimeout` + `AbortController` (not `AbortSignal.timeout`) so fake timers drive it.
 *
 * @example
 * ```ts
 * app.post('/summarize', claudeGuard(guard, { route: 'summarize' }), async (req, res) => {
 *   const left = req.claude.deadline.remaining();
 *   await fetch(searchUrl, { signal: req.claude.deadline.signal, headers: req.claude.deadline.toHeaders() });
 * });
 * ```
 */
export class Deadline {
  /** Epoch ms at which the budget is spent (already less the reserve for writing the response). */
  readonly at: number;
  readonly signal: AbortSignal;
  readonly #controller = new AbortController();
  readonly #clock: Clock;
  readonly #parent: AbortSignal | undefined;
  #timer: TimerHandle | undefined;

  constructor(
    clock: Clock,
    readonly budgetMs: number,
    readonly source: DeadlineSource,
    parent?: AbortSignal,
  ) {
    this.#clock = clock;
    this.at = clock.now() + budgetMs;
    this.signal = this.#controller.signal;
    this.#parent = parent;
    if (parent?.aborted) {
      this.#controller.abort(new ClientAbortedError());
      return;
    }
    parent?.addEventListener('abort', this.#onParentAbort, { once: true });
    this.#timer = clock.setTimeout(this.#onExpire, Math.max(0, budgetMs));
  }

  /** Milliseconds left, never negative. */
  remaining(): number {
    return Math.max(0, this.at - this.#clock.now());
  }

  /** True once the budget has run out (whether or not the timer has fired yet). */
  get expired(): boolean {
    return this.signal.reason instanceof DeadlineExceededError || this.#clock.now() >= this.at;
  }

  /** True when the end user went away. */
  get clientAborted(): boolean {
    return this.signal.reason instanceof ClientAbortedError;
  }

  /** Headers carrying the remaining budget to your own downstream calls. */
  toHeaders(names?: readonly string[]): Record<string, string> {
    return deadlineToHeaders(this.remaining(), names);
  }

  /** Marks the client as gone; aborts everything derived from this deadline. */
  abortForClient(): void {
    if (!this.signal.aborted) this.#controller.abort(new ClientAbortedError());
    this.dispose();
  }

  /** Stops the timer and detaches from the parent signal. Idempotent. */
  dispose(): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#parent?.removeEventListener('abort', this.#onParentAbort);
  }

  readonly #onExpire = (): void => {
    this.#timer = undefined;
    this.#parent?.removeEventListener('abort', this.#onParentAbort);
    if (!this.signal.aborted) this.#controller.abort(new DeadlineExceededError(this.source, this.budgetMs));
  };

  readonly #onParentAbort = (): void => {
    this.abortForClient();
  };
}

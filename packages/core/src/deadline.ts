import type { Clock, TimerHandle } from './clock.js';
import { deadlineToHeaders, readDeadlineHeaders } from './deadline-header.js';
import { ClaudeGuardError } from './guard-error.js';

/**
 * Which budget a deadline came from; named in the 504 so callers know whose clock ran out.
 *
 * @example
 * ```ts
 * if (deadline.source === 'caller-header') console.log('the caller chose this budget');
 * ```
 */
export type DeadlineSource = 'route-default' | 'call-option' | 'caller-header' | 'route-maximum';

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
    case 'call-option':
      return "call's own deadline (deadlineMs)";
  }
}

// One options object for every parent listener instead of one per request.
const ONCE: AddEventListenerOptions = Object.freeze({ once: true });

/** Told the reason once, when a deadline aborts (see {@link onDeadlineAbort}). */
export type DeadlineListener = (reason: Error) => void;

// The module's own access to a deadline's listeners: internal, so not methods on the public class.
let subscribe: (deadline: Deadline, listener: DeadlineListener) => Error | undefined;
let unsubscribe: (deadline: Deadline, listener: DeadlineListener) => void;
let reasonOf: (deadline: Deadline) => Error | undefined;

/**
 * The whole request's time budget. Its `signal` aborts when the budget runs out or when the
 * client disconnects, and every Claude attempt made under it derives its own signal from it.
 * Built on `setTimeout` + `AbortController` (not `AbortSignal.timeout`) so fake timers drive it.
 *
 * Lazy: the `AbortController` (an `AbortSignal` costs about 3 us of CPU on Node 20) is made the
 * first time `signal` is read, and the timer is armed only once something waits for the deadline
 * (the signal, or an attempt through {@link onDeadlineAbort}). A request that reads neither holds
 * no timer at all; its expiry is read from the clock, as `expired` always did. A client that goes
 * away is heard at once (the parent's listener is not lazy), so the first reason is always kept.
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
  readonly #clock: Clock;
  /** Why it aborted, once it has: the first reason wins. */
  #reason: Error | undefined;
  #controller: AbortController | undefined;
  /** Who waits for the abort besides the signal: an attempt in flight, usually none or one (no array for one). */
  #listener: DeadlineListener | undefined;
  #moreListeners: DeadlineListener[] | undefined;
  // Set only while we listen on a live parent: an absent or already-aborted parent costs no closure.
  #parent: AbortSignal | undefined;
  #onParentAbort: (() => void) | undefined;
  #timer: TimerHandle | undefined;
  /** Released (its request ended): no timer is armed and no listener kept any more. */
  #disposed = false;

  static {
    subscribe = (deadline, listener) => deadline.#subscribe(listener);
    unsubscribe = (deadline, listener) => deadline.#unsubscribe(listener);
    reasonOf = (deadline) => deadline.#currentReason();
  }

  constructor(
    clock: Clock,
    readonly budgetMs: number,
    readonly source: DeadlineSource,
    parent?: AbortSignal,
  ) {
    this.#clock = clock;
    this.at = clock.now() + budgetMs;
    if (parent?.aborted) {
      // Nobody is waiting for an answer (or the enclosing request's time is up): no timer, no listener.
      this.#reason = spentBy(parent) ? new DeadlineExceededError(source, budgetMs) : new ClientAbortedError();
      return;
    }
    if (parent) {
      this.#parent = parent;
      this.#onParentAbort = () => (spentBy(parent) ? this.#expireFromParent() : this.abortForClient());
      parent.addEventListener('abort', this.#onParentAbort, ONCE);
    }
  }

  /** Aborts when the budget runs out or the client goes away; made (and the timer armed) on first read. */
  get signal(): AbortSignal {
    let controller = this.#controller;
    if (controller === undefined) {
      controller = this.#controller = new AbortController();
      if (this.#reason === undefined) this.#arm();
      if (this.#reason !== undefined) controller.abort(this.#reason);
    }
    return controller.signal;
  }

  /** Milliseconds left, never negative. */
  remaining(): number {
    return Math.max(0, this.at - this.#clock.now());
  }

  /** True once the budget has run out (whether or not the timer has fired yet). */
  get expired(): boolean {
    return this.#reason instanceof DeadlineExceededError || this.#clock.now() >= this.at;
  }

  /** True when the end user went away. */
  get clientAborted(): boolean {
    return this.#reason instanceof ClientAbortedError;
  }

  /** Headers carrying the remaining budget to your own downstream calls. */
  toHeaders(names?: readonly string[]): Record<string, string> {
    return deadlineToHeaders(this.remaining(), names);
  }

  /** Marks the client as gone; aborts everything derived from this deadline. */
  abortForClient(): void {
    // A budget already spent by the clock is the first reason, whether or not a timer said so.
    if (this.#currentReason() === undefined) this.#abort(new ClientAbortedError());
    this.dispose();
  }

  /**
   * The parent is an enclosing request's deadline that ran out (a `guard.middleware()` call inside a
   * guarded request): this budget is spent too, whatever the clock says (a timer may fire a little
   * early), so the call ends as a deadline, never as a client that left.
   */
  #expireFromParent(): void {
    this.#expire();
    this.dispose();
  }

  /** Stops the timer and detaches from the parent signal. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    // What a timer armed from the start would have done by now (an armed one says it itself).
    if (this.#reason === undefined && this.#timer === undefined && this.#clock.now() >= this.at) this.#expire();
    this.#disposed = true;
    this.#listener = undefined;
    this.#moreListeners = undefined;
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#detach();
  }

  /** The abort reason, also when the budget ran out by the clock before any timer said so; `undefined` while live. */
  #currentReason(): Error | undefined {
    if (this.#reason === undefined && !this.#disposed && this.#clock.now() >= this.at) this.#expire();
    return this.#reason;
  }

  #subscribe(listener: DeadlineListener): Error | undefined {
    if (this.#reason === undefined) this.#arm();
    if (this.#reason !== undefined || this.#disposed) return this.#reason;
    if (this.#listener === undefined) this.#listener = listener;
    else (this.#moreListeners ??= []).push(listener);
    return undefined;
  }

  #unsubscribe(listener: DeadlineListener): void {
    if (this.#listener === listener) {
      this.#listener = this.#moreListeners?.shift();
      return;
    }
    const more = this.#moreListeners;
    if (more === undefined) return;
    const index = more.indexOf(listener);
    if (index !== -1) more.splice(index, 1);
  }

  /**
   * Arms the expiry timer once, while live (nothing is armed after {@link Deadline.dispose}); a
   * budget already spent by the clock expires at once instead.
   */
  #arm(): void {
    if (this.#timer !== undefined || this.#disposed) return;
    const left = this.at - this.#clock.now();
    if (left <= 0) this.#expire();
    else this.#timer = this.#clock.setTimeout(() => this.#onTimer(), left);
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#expire();
  }

  #expire(): void {
    this.#detach();
    if (this.#reason === undefined) this.#abort(new DeadlineExceededError(this.source, this.budgetMs));
  }

  #abort(reason: Error): void {
    this.#reason = reason;
    const controller = this.#controller;
    if (controller !== undefined && !controller.signal.aborted) controller.abort(reason);
    const first = this.#listener;
    const more = this.#moreListeners;
    this.#listener = undefined;
    this.#moreListeners = undefined;
    first?.(reason);
    if (more !== undefined) for (const listener of more) listener(reason);
  }

  #detach(): void {
    const parent = this.#parent;
    const listener = this.#onParentAbort;
    if (parent === undefined || listener === undefined) return;
    parent.removeEventListener('abort', listener);
    // Dropped so a long-lived parent (a keep-alive socket's signal) does not keep this request reachable.
    this.#parent = undefined;
    this.#onParentAbort = undefined;
  }
}

/** Whether `signal` aborted because a deadline ran out (not because a client left). */
function spentBy(signal: AbortSignal): boolean {
  return signal.reason instanceof DeadlineExceededError;
}

/**
 * Calls `listener` once with the reason when `deadline` aborts (it runs out, or the client goes
 * away), without making the deadline's `AbortSignal`: how attempts wait for it. Arms the deadline's
 * timer if nothing had yet. Remove the listener with {@link offDeadlineAbort} when the wait is over.
 *
 * @returns The reason, without registering anything, when the deadline has already aborted.
 *
 * @example
 * ```ts
 * const reason = onDeadlineAbort(deadline, listener);
 * if (reason) throw reason;
 * try { await work; } finally { offDeadlineAbort(deadline, listener); }
 * ```
 */
export function onDeadlineAbort(deadline: Deadline, listener: DeadlineListener): Error | undefined {
  return subscribe(deadline, listener);
}

/**
 * Removes a listener added with {@link onDeadlineAbort}; one that already ran is gone already.
 *
 * @example
 * ```ts
 * offDeadlineAbort(deadline, listener);
 * ```
 */
export function offDeadlineAbort(deadline: Deadline, listener: DeadlineListener): void {
  unsubscribe(deadline, listener);
}

/**
 * Why `deadline` has aborted (the client left, or its budget ran out, by its timer or by the
 * clock), or `undefined` while it is live; reads no signal, so makes none.
 *
 * @example
 * ```ts
 * const reason = deadlineAbortReason(deadline);
 * if (reason) throw reason;
 * ```
 */
export function deadlineAbortReason(deadline: Deadline): Error | undefined {
  return reasonOf(deadline);
}

/**
 * A route's deadline policy, as normalized from its `deadline` options.
 *
 * @example
 * ```ts
 * const policy: DeadlinePolicy = { defaultMs: 60_000, maxMs: 300_000, reserveMs: 5, headers: DEFAULT_DEADLINE_HEADERS };
 * ```
 */
export interface DeadlinePolicy {
  /** Budget when the caller sends no deadline header. */
  readonly defaultMs: number;
  /**
   * Whose budget `defaultMs` is: the route's (default), or one call's own (`guard.run`'s `deadlineMs`),
   * so a 504 names the budget that really ran out.
   */
  readonly defaultSource?: 'route-default' | 'call-option';
  /** Upper bound whatever the caller asks for. */
  readonly maxMs: number;
  /** Kept back from the budget to write the response (the deadline keeps at least 1 ms). */
  readonly reserveMs: number;
  /** Headers read for the caller's budget; the smallest wins. */
  readonly headers: readonly string[];
}

/**
 * What {@link resolveDeadline} needs to know about one request.
 *
 * @example
 * ```ts
 * const input: DeadlineInput = { headers: request.headers, signal: request.signal, clock: systemClock, policy };
 * ```
 */
export interface DeadlineInput {
  /** Anything with `get(name)`: a `Headers`, or an adapter's view of Node's header object. */
  readonly headers: { get(name: string): string | null | undefined };
  /** Aborts when the end user disconnects. */
  readonly signal?: AbortSignal | undefined;
  readonly clock: Clock;
  readonly policy: DeadlinePolicy;
}

/**
 * The request's deadline under a route's policy, or the error that answers the request at once.
 *
 * The budget is the route's `defaultMs`, or the caller's (the smallest of `policy.headers`), capped
 * at `maxMs` (then its source is `route-maximum`), less `reserveMs` but never under 1 ms. A malformed
 * deadline header is a 400 naming it; a caller's budget already spent (0 or less) is a 504, and Claude
 * is not called. No timer is armed for a rejection. An already-aborted `signal` still gives a
 * deadline, born aborted with {@link ClientAbortedError} and without a timer.
 *
 * Returns the `Deadline` or the error itself, not a `{ ok }` wrapper, so a request that goes ahead
 * allocates no result object; tell them apart with `instanceof`.
 *
 * @param input - The request's headers and client signal, the clock and the route's policy.
 * @returns A running {@link Deadline}, or a {@link ClaudeGuardError} (400 `bad-request`, 504 `deadline-exceeded`).
 *
 * @example
 * ```ts
 * const deadline = resolveDeadline({ headers: request.headers, signal: request.signal, clock, policy });
 * if (deadline instanceof ClaudeGuardError) return Response.json(deadline.toBody(id), { status: deadline.status });
 * await fetch(searchUrl, { signal: deadline.signal });
 * ```
 */
export function resolveDeadline(input: DeadlineInput): Deadline | ClaudeGuardError {
  return deadlineFor(input.headers, input.signal, input.clock, input.policy);
}

/**
 * {@link resolveDeadline} with positional parameters: the guard's own path builds no input object
 * per request.
 *
 * @example
 * ```ts
 * const deadline = deadlineFor(request.headers, request.signal, clock, policy);
 * ```
 */
export function deadlineFor(
  headers: DeadlineInput['headers'],
  signal: AbortSignal | undefined,
  clock: Clock,
  policy: DeadlinePolicy,
): Deadline | ClaudeGuardError {
  const parsed = readDeadlineHeaders(headers, policy.headers);
  if (parsed.kind === 'invalid') {
    return new ClaudeGuardError({
      status: 400,
      type: 'invalid_request_error',
      message: `Header ${parsed.header}: ${parsed.reason}`,
      outcome: 'bad-request',
    });
  }
  let budget = policy.defaultMs;
  let source: DeadlineSource = policy.defaultSource ?? 'route-default';
  if (parsed.kind === 'ok') {
    if (parsed.ms <= 0) {
      return new ClaudeGuardError({
        status: 504,
        type: 'timeout_error',
        message: `Header ${parsed.header}: the caller's deadline had already passed; Claude was not called`,
        outcome: 'deadline-exceeded',
      });
    }
    budget = parsed.ms;
    source = 'caller-header';
  }
  if (budget > policy.maxMs) {
    budget = policy.maxMs;
    source = 'route-maximum';
  }
  return new Deadline(clock, Math.max(1, budget - policy.reserveMs), source, signal);
}

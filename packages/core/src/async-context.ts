// The one module of core that imports a `node:` builtin other than `node:events`: every runtime
// core supports has `AsyncLocalStorage` under this name (Node, Bun, Deno, Cloudflare Workers with
// `nodejs_compat`, which core already needs for `node:events`). Keep it alone in this file so that
// the lint rule against `node:*` imports in core can allow exactly this path.
import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * A value that follows the async flow it was set in: what the guard's SDK middleware reads to find
 * the request (or explicit context) a Claude call is made in.
 */
export interface AsyncContext<T> {
  /** Runs `fn` with `value` as the current value, for `fn` and everything it starts. */
  run<R>(value: T, fn: () => R): R;
  /** The current value, or `undefined` outside any `run`. */
  get(): T | undefined;
}

/**
 * One store per guard, so that two guards in one process never see each other's requests.
 *
 * @returns The store.
 *
 * @example
 * ```ts
 * const store = createAsyncContext<{ requestId: string }>();
 * store.run({ requestId: 'req_1' }, () => store.get()?.requestId); // 'req_1'
 * ```
 */
export function createAsyncContext<T>(): AsyncContext<T> {
  const storage = new AsyncLocalStorage<T>();
  return {
    run: (value, fn) => storage.run(value, fn),
    get: () => storage.getStore(),
  };
}

/**
 * Set while a caller's `fn` runs as one attempt of `guard.run` / `claude.run`: a `guard.middleware()`
 * client used in it sends its calls on as they are, since that attempt is already guarded (guarding
 * it again would multiply attempts). Shared by every guard of the process: an attempt is guarded
 * whichever guard runs it.
 */
export const insideGuardedAttempt: AsyncContext<true> = createAsyncContext<true>();

let sdkMiddlewareMade = false;

/**
 * Notes that a `guard.middleware()` exists in this process: the only reader of
 * {@link insideGuardedAttempt}. Called when one is made.
 */
export function noteSdkMiddleware(): void {
  sdkMiddlewareMade = true;
}

/**
 * Runs `fn` as one attempt of `guard.run` / `claude.run`: inside {@link insideGuardedAttempt} once a
 * `guard.middleware()` exists to read it, else directly. On Node 20 the first `AsyncLocalStorage.run`
 * puts a hook on every promise the process makes from then on (about 15 us more CPU per SDK call),
 * a cost nobody should pay for a flag nothing reads. (A middleware made inside an attempt already
 * running does not see that attempt as guarded.)
 *
 * @example
 * ```ts
 * return policy.execute((attempt) => runAsGuardedAttempt(() => fn(attempt)), call, CALLER_CODE);
 * ```
 */
export function runAsGuardedAttempt<R>(fn: () => R): R {
  return sdkMiddlewareMade ? insideGuardedAttempt.run(true, fn) : fn();
}

import type { GuardedCall } from '@claude-guard/core';
import type { Context } from 'hono';

// Which requests are the guard's own: claudeGuard() records the call it began for a request, and
// the routes Hono matched tell when an error came before it ran (bearerAuth in front of it, or on '/v1/*').

const GUARD_HANDLER = Symbol.for('claude-guard.handler');
// Hono's name for the handler it wraps when a sub-app mounted with app.route() has its own onError.
const COMPOSED_HANDLER = '__COMPOSED_HANDLER';

/** The guarded call a request runs under, and its route's name. */
export interface RequestCall {
  readonly call: GuardedCall;
  readonly route: string;
}

const calls = new WeakMap<Context, RequestCall>();

/** Records the call `claudeGuard()` began for `c`'s request. */
export function attachCall(c: Context, call: RequestCall): void {
  calls.set(c, call);
}

/** The call `claudeGuard()` began for `c`'s request, if it ran. */
export function callOf(c: Context): RequestCall | undefined {
  return calls.get(c);
}

/** Marks `handler` as the guard's (`claudeGuard`, `claudeProxy`): a route holding it is the guard's own. */
export function markGuardHandler<T extends object>(handler: T): T {
  Object.defineProperty(handler, GUARD_HANDLER, { value: true });
  return handler;
}

function isGuardHandler(handler: unknown): boolean {
  if (typeof handler !== 'function') return false;
  const marked = handler as { [GUARD_HANDLER]?: boolean; [COMPOSED_HANDLER]?: unknown };
  return marked[GUARD_HANDLER] === true || isGuardHandler(marked[COMPOSED_HANDLER]);
}

/**
 * Whether `c`'s request is on one of the guard's own routes: `claudeGuard()` ran for it, or one of the
 * routes Hono matched for it (middleware included) is `claudeGuard()` or `claudeProxy()`.
 */
export function onGuardRoute(c: Context): boolean {
  if (calls.has(c)) return true;
  // `c.req.matchedRoutes` is in every Hono 4 (the peer range); `matchedRoutes(c)` from 'hono/route' only since 4.8.
  return c.req.matchedRoutes.some((route) => isGuardHandler(route.handler));
}

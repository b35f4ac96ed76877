import type { GuardedCall } from '@claude-guard/core';
import type { Request } from 'express';

// Which requests are the guard's own: set by claudeGuard() on the request it begins, and known from
// the route Express matched when an error came before the guard's middleware ran (auth in front of it).

const CALL = Symbol.for('claude-guard.call');
const GUARD_HANDLER = Symbol.for('claude-guard.handler');

/** The guarded call a request runs under, and its route's name. */
export interface RequestCall {
  readonly call: GuardedCall;
  readonly route: string;
}

type Marked = { [CALL]?: RequestCall };

/** Records the call `claudeGuard()` began for `req`. */
export function attachCall(req: object, call: RequestCall): void {
  (req as Marked)[CALL] = call;
}

/** The call `claudeGuard()` began for `req` (any `Request`, whatever its type parameters), if it ran. */
export function callOf(req: object): RequestCall | undefined {
  return (req as Marked)[CALL];
}

/** Marks `handler` as the guard's (`claudeGuard`, `claudeProxy`): a route holding it is the guard's own. */
export function markGuardHandler<T extends object>(handler: T): T {
  Object.defineProperty(handler, GUARD_HANDLER, { value: true });
  return handler;
}

/**
 * Whether `req` is on one of the guard's own routes: `claudeGuard()` ran for it, or the route Express
 * matched holds `claudeGuard()` or `claudeProxy()` (an error of middleware in front of them on the same
 * route). An error of app-wide middleware comes before Express has matched any route: not known.
 */
export function onGuardRoute(req: Request): boolean {
  if (callOf(req)) return true;
  const stack = (req.route as { stack?: unknown } | undefined)?.stack;
  return (
    Array.isArray(stack) &&
    stack.some((layer: unknown) => {
      const handle = (layer as { handle?: unknown } | null)?.handle;
      return typeof handle === 'function' && (handle as { [GUARD_HANDLER]?: boolean })[GUARD_HANDLER] === true;
    })
  );
}

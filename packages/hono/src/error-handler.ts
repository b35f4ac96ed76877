import type { ClaudeGuard } from '@claude-guard/core';
import { claudeGuardErrorOf } from '@claude-guard/core';
import type { Context, ErrorHandler } from 'hono';
import { callOf, onGuardRoute } from './guard-route.js';
import { httpError, isHttpException } from './http-exception.js';

/**
 * Options of {@link claudeGuardErrorHandler}.
 *
 * @example
 * ```ts
 * app.onError(claudeGuardErrorHandler(guard, { otherRoutes: (error, c) => c.json({ error: 'oops' }, 500) }));
 * ```
 */
export interface ClaudeGuardErrorHandlerOptions {
  /**
   * Also answer the errors of routes that are not the guard's, Anthropic-shaped: `HTTPException`s with
   * their status, anything else the sanitized 500 (logged). For an app whose every route speaks the
   * Anthropic error shape. Default `false`: those errors go to `otherRoutes`.
   */
  allRoutes?: boolean | undefined;
  /**
   * Answers the errors of routes that are not the guard's (unless `allRoutes`). Default: what Hono
   * answers without an `onError` (an `HTTPException`'s own response; else the error on `console.error`
   * and a plain-text 500).
   */
  otherRoutes?: ErrorHandler | undefined;
}

const KNOWN_OPTIONS = ['allRoutes', 'otherRoutes'];

/**
 * For `app.onError`: answers errors Anthropic-shaped and sanitized, with the request id under the
 * guard's `requestIdHeader` (the id of the request the error ended, else the caller's, else a fresh one):
 *
 * - the guard's own errors (`ClaudeGuardError`, from a guarded route or a `guard.run` anywhere) with
 *   their status and message;
 * - on the guard's own routes (matched with `claudeGuard()` or `claudeProxy()`, middleware in front of
 *   them included: `bearerAuth` on the route or on `/v1/*`), an `HTTPException` with its own status,
 *   headers and text; anything else is a bug: the sanitized 500, its error logged once, at error level,
 *   with its stack, through the guard's logger;
 * - errors of other routes go to `otherRoutes` (by default, Hono's own answer), unless `allRoutes`.
 *
 * @param guard - from `createClaudeGuard()`: its `requestIdHeader` names the correlation header, its logger logs bugs
 * @param options - `allRoutes` to answer every route's errors, or `otherRoutes` to answer theirs your way
 * @returns a Hono error handler
 * @example
 * ```ts
 * app.onError(claudeGuardErrorHandler(guard));
 * ```
 */
export function claudeGuardErrorHandler(
  guard: ClaudeGuard,
  options: ClaudeGuardErrorHandlerOptions = {},
): ErrorHandler {
  const { allRoutes, otherRoutes } = readOptions(options);
  return async (error, c) => {
    // The guard's error, also behind the SDK error of a call a `guard.middleware()` client gave up on.
    const own = claudeGuardErrorOf(error);
    if (!own && !allRoutes && !onGuardRoute(c)) return otherRoutes(error, c);
    const answered = own ?? (await httpError(error)) ?? error;
    const guarded = callOf(c);
    // Inside a guarded route, claudeGuard() answers in place of this (and logs a bug): the same answer.
    if (guarded) return guarded.call.errorResponse(answered);
    // guard.errorResponse logs the bug behind a 500 itself.
    return guard.errorResponse(answered, c.req.raw.headers);
  };
}

/** What Hono answers without an `onError` of the app's own. */
function honoDefault(error: Error, c: Context): Response {
  if (isHttpException(error)) {
    const response = error.getResponse();
    return c.newResponse(response.body, response);
  }
  console.error(error);
  return c.text('Internal Server Error', 500);
}

function readOptions(options: ClaudeGuardErrorHandlerOptions): { allRoutes: boolean; otherRoutes: ErrorHandler } {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('claude-guard: claudeGuardErrorHandler options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(key)) {
      throw new TypeError(
        `claude-guard: claudeGuardErrorHandler has no option \`${key}\` (known: ${KNOWN_OPTIONS.map((name) => `\`${name}\``).join(', ')})`,
      );
    }
  }
  const { allRoutes, otherRoutes } = options;
  if (allRoutes !== undefined && typeof allRoutes !== 'boolean') {
    throw new TypeError('claude-guard: claudeGuardErrorHandler option `allRoutes` must be a boolean');
  }
  if (otherRoutes !== undefined && typeof otherRoutes !== 'function') {
    throw new TypeError('claude-guard: claudeGuardErrorHandler option `otherRoutes` must be a function');
  }
  if (allRoutes === true && otherRoutes !== undefined) {
    throw new TypeError(
      'claude-guard: claudeGuardErrorHandler options `allRoutes` and `otherRoutes` conflict: with `allRoutes` there are no other routes',
    );
  }
  return { allRoutes: allRoutes === true, otherRoutes: otherRoutes ?? honoDefault };
}

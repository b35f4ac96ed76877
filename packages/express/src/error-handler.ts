import type { ClaudeGuard } from '@claude-guard/core';
import { claudeGuardErrorOf } from '@claude-guard/core';
import type { ErrorRequestHandler } from 'express';
import { callOf, onGuardRoute } from './guard-route.js';
import { httpError } from './http-error.js';
import { headerReader, writeWebResponse } from './node-bridge.js';

/**
 * Options of {@link claudeGuardErrorHandler}.
 *
 * @example
 * ```ts
 * app.use(claudeGuardErrorHandler(guard, { allRoutes: true }));
 * ```
 */
export interface ClaudeGuardErrorHandlerOptions {
  /**
   * Also answer the errors of routes that are not the guard's, Anthropic-shaped: HTTP errors with their
   * status, anything else the sanitized 500 (logged). For an app whose every route speaks the Anthropic
   * error shape. Default `false`: those errors go on to your next error handler.
   */
  allRoutes?: boolean | undefined;
}

const KNOWN_OPTIONS = ['allRoutes'];

/**
 * Answers errors, Anthropic-shaped and sanitized, with the request id under the guard's
 * `requestIdHeader` (which is why the guard is passed):
 *
 * - the guard's own errors (`ClaudeGuardError`, from a guarded route or a `guard.run` anywhere) with
 *   their status (`504` deadline, `503` breaker open, `429` with `retry-after`, ...);
 * - on the guard's own routes (a route with `claudeGuard()` or `claudeProxy()`, middleware in front of
 *   them included), HTTP errors (`status`/`statusCode` 4xx or 5xx: http-errors', body-parser's, an auth
 *   middleware's 401) with their own status, headers and, when `expose` is set, their own message;
 *   anything else is a bug: the sanitized 500, its error logged once, at error level, with its stack,
 *   through the guard's logger;
 * - errors of other routes go on to your next error handler, unless `allRoutes` is set. So do errors of
 *   app-wide middleware (`app.use(...)`): they come before Express has matched a route.
 *
 * Anything once headers are sent goes on to `next` as well (Express then closes the connection).
 *
 * @param guard - from `createClaudeGuard()`: its `requestIdHeader` names the correlation header, its logger logs bugs
 * @param options - `allRoutes` to answer every route's errors
 * @returns an Express error handler (four parameters)
 * @example
 * ```ts
 * app.use(claudeGuardErrorHandler(guard));
 * app.use(myErrorHandler); // the errors of other routes
 * ```
 */
export function claudeGuardErrorHandler(
  guard: ClaudeGuard,
  options: ClaudeGuardErrorHandlerOptions = {},
): ErrorRequestHandler {
  const allRoutes = readOptions(options);
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    // The guard's error, also behind the SDK error of a call a `guard.middleware()` client gave up on.
    const own = claudeGuardErrorOf(error);
    if (!own && !allRoutes && !onGuardRoute(req)) {
      next(error);
      return;
    }
    const answered = own ?? httpError(error) ?? error;
    const guarded = callOf(req);
    let response: Response;
    if (guarded) {
      // Inside a guarded route the call answers (its id, the upstream's id) and the bug is logged with it.
      guard.reportError(answered, { route: guarded.route, requestId: guarded.call.requestId });
      response = guarded.call.errorResponse(answered);
    } else {
      // guard.errorResponse logs the bug behind a 500 itself.
      response = guard.errorResponse(answered, headerReader(req));
    }
    writeWebResponse(res, response).catch(next);
  };
}

function readOptions(options: ClaudeGuardErrorHandlerOptions): boolean {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('claude-guard: claudeGuardErrorHandler options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(key)) {
      throw new TypeError(
        `claude-guard: claudeGuardErrorHandler has no option \`${key}\` (did you mean \`allRoutes\`?)`,
      );
    }
  }
  const { allRoutes } = options;
  if (allRoutes !== undefined && typeof allRoutes !== 'boolean') {
    throw new TypeError(`claude-guard: claudeGuardErrorHandler option \`allRoutes\` must be a boolean`);
  }
  return allRoutes === true;
}

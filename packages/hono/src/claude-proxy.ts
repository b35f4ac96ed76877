import type { ClaudeGuard, RouteOptions } from '@claude-guard/core';
import type { Handler } from 'hono';
import { markGuardHandler } from './guard-route.js';

/**
 * A ready `POST /v1/messages` route that speaks the Anthropic Messages API: validated, guarded,
 * streamed when `"stream": true`. Client aborts arrive through `c.req.raw.signal`
 * (`@hono/node-server` aborts it when the socket closes) and through the stream's cancel.
 *
 * @param guard - from `createClaudeGuard()`
 * @param options - the route's name, limits and overrides
 * @returns a Hono handler
 * @example
 * ```ts
 * app.post('/v1/messages', claudeProxy(guard, { route: 'proxy' }));
 * ```
 */
export function claudeProxy(guard: ClaudeGuard, options: RouteOptions): Handler {
  const route = guard.route(options);
  return markGuardHandler<Handler>((c) => route.proxy(c.req.raw));
}

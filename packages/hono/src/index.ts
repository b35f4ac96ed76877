import type {
  ClaudeGuard,
  GuardedClaude,
  MessageStreamParams,
  RouteOptions,
  StreamCallOptions,
} from '@claude-guard/core';
import { isClaudeGuardError } from '@claude-guard/core';
import type { Context, ErrorHandler, Handler, MiddlewareHandler } from 'hono';

/**
 * `c.var.claude` in a guarded Hono route: the guarded Claude facade, plus `stream(c, ...)`
 * that returns the SSE `Response` to return from the handler.
 *
 * @example
 * ```ts
 * app.post('/chat', claudeGuard(guard, { route: 'chat' }), (c) => c.var.claude.stream(c, params, { format: 'text' }));
 * ```
 */
export interface HonoGuardedClaude extends Omit<GuardedClaude, 'stream'> {
  /** Streams a guarded message (`anthropic` events by default, or `{ format: 'text' }`). */
  readonly stream: (c: Context, params: MessageStreamParams, options?: StreamCallOptions) => Promise<Response>;
}

/**
 * The `Variables` a guarded route adds.
 *
 * @example
 * ```ts
 * const app = new Hono<{ Variables: ClaudeGuardVariables }>();
 * ```
 */
export interface ClaudeGuardVariables {
  claude: HonoGuardedClaude;
}

/**
 * Route middleware: sets `c.var.claude`, whose calls run under the request's deadline (from
 * `x-request-timeout-ms` and friends), the route's retry policy and breaker. Errors thrown by
 * the handler under the guard become the sanitized Anthropic-shaped response.
 *
 * @param guard - from `createClaudeGuard()`
 * @param options - the route's name and overrides
 * @returns a Hono middleware typed with `Variables: { claude }`
 * @example
 * ```ts
 * app.post('/summarize', claudeGuard(guard, { route: 'summarize' }), async (c) =>
 *   c.json(await c.var.claude.messages.create({ model: 'claude-sonnet-5', max_tokens: 512, messages })));
 * ```
 */
export function claudeGuard(
  guard: ClaudeGuard,
  options: RouteOptions,
): MiddlewareHandler<{ Variables: ClaudeGuardVariables }> {
  const route = guard.route(options);
  return async (c, next) => {
    const begun = route.begin({ headers: c.req.raw.headers, signal: c.req.raw.signal });
    if (!begun.ok) return begun.response;
    const call = begun.call;
    c.set('claude', {
      messages: call.claude.messages,
      run: call.claude.run,
      deadline: call.deadline,
      requestId: call.requestId,
      stream: (_c, params, streamOptions) => call.claude.stream(params, streamOptions),
    });
    try {
      await next();
      if (c.error) {
        // Sanitized, Anthropic-shaped, whatever the handler threw.
        c.res = call.errorResponse(c.error);
        c.error = undefined;
      }
      c.res.headers.set(call.requestIdHeader, call.requestId);
    } finally {
      // While a stream is still being read, the call ends when the stream does.
      call.end(c.res.status);
    }
    return undefined;
  };
}

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
  return (c) => route.proxy(c.req.raw);
}

/**
 * For `app.onError`: answers guard errors with their own response and leaves the rest to a
 * plain 500 that reveals nothing.
 *
 * @returns a Hono error handler
 * @example
 * ```ts
 * app.onError(claudeGuardErrorHandler());
 * ```
 */
export function claudeGuardErrorHandler(): ErrorHandler {
  return (error, c) => {
    if (isClaudeGuardError(error)) return error.getResponse();
    return c.json({ type: 'error', error: { type: 'api_error', message: 'Internal server error' } }, 500);
  };
}

import type {
  ClaudeGuard,
  GuardedClaude,
  MessageStreamParams,
  RouteOptions,
  StreamCallOptions,
} from '@claude-guard/core';
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
        replaceResponse(c, call.errorResponse(c.error));
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
 * Puts `answer` in place of the handler's response. Hono's `c.res = answer` copies every header
 * of the response it replaces onto `answer`, and that response is `app.onError`'s answer to the
 * same error, rendered without this call's id: its correlation header would overwrite ours. So
 * `answer`'s own headers win and only the others (set by other middleware) are carried over.
 */
function replaceResponse(c: Context, answer: Response): void {
  const replaced = c.res;
  c.res = undefined;
  replaced.headers.forEach((value, name) => {
    // The body is `answer`'s: its type and length are too.
    if (name === 'content-type' || name === 'content-length' || answer.headers.has(name)) return;
    answer.headers.append(name, value);
  });
  c.res = answer;
}

/**
 * For `app.onError`: answers guard errors with their own status and message and anything else
 * with a plain 500 that reveals nothing, Anthropic-shaped, the request id under the guard's
 * `requestIdHeader` (the id of the request the error ended, else the caller's, else a fresh one).
 *
 * @param guard - from `createClaudeGuard()`: its `requestIdHeader` names the correlation header
 * @returns a Hono error handler
 * @example
 * ```ts
 * app.onError(claudeGuardErrorHandler(guard));
 * ```
 */
export function claudeGuardErrorHandler(guard: ClaudeGuard): ErrorHandler {
  return (error, c) => guard.errorResponse(error, c.req.raw.headers);
}

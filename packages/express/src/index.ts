import type {
  ClaudeGuard,
  GuardedCall,
  GuardedClaude,
  MessageStreamParams,
  RouteOptions,
  StreamCallOptions,
} from '@claude-guard/core';
import { ClaudeGuardError, isClaudeGuardError } from '@claude-guard/core';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { closeSignal, headerReader, toWebRequest, writeWebResponse } from './node-bridge.js';

/**
 * `req.claude` in a guarded Express route: the guarded Claude facade, plus `stream(res, ...)`
 * that writes the SSE answer to `res`.
 *
 * @example
 * ```ts
 * app.post('/chat', claudeGuard(guard, { route: 'chat' }), (req, res) => req.claude.stream(res, params, { format: 'text' }));
 * ```
 */
export interface ExpressGuardedClaude extends Omit<GuardedClaude, 'stream'> {
  /** Streams a guarded message to `res` (`anthropic` events by default, or `{ format: 'text' }`). */
  readonly stream: (res: Response, params: MessageStreamParams, options?: StreamCallOptions) => Promise<void>;
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Express's own extension point
  namespace Express {
    interface Request {
      /** Set by `claudeGuard()` on guarded routes. */
      claude: ExpressGuardedClaude;
    }
  }
}

const CALL = Symbol.for('claude-guard.call');
type WithCall = Request & { [CALL]?: GuardedCall };

/**
 * Route middleware: gives the handler `req.claude`, whose calls run under the request's
 * deadline (from `x-request-timeout-ms` and friends), the route's retry policy and breaker.
 * Mount {@link claudeGuardErrorHandler} after your routes to answer guard errors.
 *
 * @param guard - from `createClaudeGuard()`
 * @param options - the route's name and overrides
 * @returns an Express middleware
 * @example
 * ```ts
 * app.post('/summarize', claudeGuard(guard, { route: 'summarize' }), async (req, res) => {
 *   const message = await req.claude.messages.create({ model: 'claude-sonnet-5', max_tokens: 512, messages });
 *   res.json(message);
 * });
 * app.use(claudeGuardErrorHandler(guard));
 * ```
 */
export function claudeGuard(guard: ClaudeGuard, options: RouteOptions): RequestHandler {
  const route = guard.route(options);
  return (req, res, next) => {
    const begun = route.begin({ headers: headerReader(req), signal: closeSignal(res) });
    if (!begun.ok) {
      writeWebResponse(res, begun.response).catch(next);
      return;
    }
    const call = begun.call;
    (req as WithCall)[CALL] = call;
    res.setHeader(call.requestIdHeader, call.requestId);
    res.once('close', () => call.end(res.writableFinished ? res.statusCode : 499));
    req.claude = {
      messages: call.claude.messages,
      run: call.claude.run,
      deadline: call.deadline,
      requestId: call.requestId,
      stream: async (target, params, streamOptions) =>
        writeWebResponse(target, await call.claude.stream(params, streamOptions)),
    };
    next();
  };
}

/**
 * A ready `POST /v1/messages` route that speaks the Anthropic Messages API: validated, guarded,
 * streamed when `"stream": true`. Point any Anthropic SDK's `baseURL` at your app.
 *
 * @param guard - from `createClaudeGuard()`
 * @param options - the route's name, limits (`proxy.maxBodyBytes`, `proxy.allowedModels`, ...) and overrides
 * @returns an Express handler
 * @example
 * ```ts
 * app.post('/v1/messages', claudeProxy(guard, { route: 'proxy', proxy: { maxTokensCap: 4096 } }));
 * ```
 */
export function claudeProxy(guard: ClaudeGuard, options: RouteOptions): RequestHandler {
  const route = guard.route(options);
  return (req, res, next) => {
    const signal = closeSignal(res);
    let request: globalThis.Request;
    try {
      request = toWebRequest(req, signal);
    } catch (error) {
      next(error);
      return;
    }
    route
      .proxy(request)
      .then((response) => writeWebResponse(res, response))
      .catch(next);
  };
}

/**
 * Answers errors from guarded routes with the sanitized Anthropic-shaped body and the right
 * status (`504` deadline, `503` breaker open, `429` with `retry-after`, ...), and body-parser's
 * errors and `ClaudeGuardError`s thrown anywhere (a `guard.run` in a plain route) the same way.
 * Errors from a guarded route that are not the guard's become a generic 500 without a stack.
 * Other errors go on to the next error handler, as does anything once headers are sent. The
 * request id goes out under the guard's `requestIdHeader`, which is why the guard is passed.
 *
 * @param guard - from `createClaudeGuard()`: its `requestIdHeader` names the correlation header
 * @returns an Express error handler (four parameters)
 * @example
 * ```ts
 * app.use(claudeGuardErrorHandler(guard));
 * ```
 */
export function claudeGuardErrorHandler(guard: ClaudeGuard): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const call = (req as WithCall)[CALL];
    const guardError =
      bodyParserError(error) ?? (call ? call.toGuardError(error) : isClaudeGuardError(error) ? error : undefined);
    if (!guardError) {
      next(error);
      return;
    }
    // Inside a guarded route the call answers (its id, the upstream's id); elsewhere the guard does.
    const response = call ? call.errorResponse(guardError) : guard.errorResponse(guardError, headerReader(req));
    writeWebResponse(res, response).catch(next);
  };
}

/**
 * body-parser's failures (`express.json()` in front of a guarded route): bad JSON, too large,
 * bad charset. Answered Anthropic-shaped instead of Express's HTML page with a stack.
 */
function bodyParserError(error: unknown): ClaudeGuardError | undefined {
  const { type, status, limit } = (error ?? {}) as { type?: unknown; status?: unknown; limit?: unknown };
  if (typeof type !== 'string' || typeof status !== 'number' || !/^(entity|encoding|charset|request)\./.test(type)) {
    return undefined;
  }
  const tooLarge = type === 'entity.too.large';
  return new ClaudeGuardError({
    status: tooLarge ? 413 : status >= 400 && status < 500 ? status : 400,
    type: tooLarge ? 'request_too_large' : 'invalid_request_error',
    message: tooLarge
      ? typeof limit === 'number'
        ? `The request body exceeds this route's limit of ${limit} bytes`
        : 'The request body is too large'
      : type === 'entity.parse.failed'
        ? 'The request body is not valid JSON'
        : 'The request body could not be read',
    outcome: 'bad-request',
    // The same answer as the passthrough's 413: the client must not reuse the connection for its next request.
    ...(tooLarge ? { headers: { connection: 'close' } } : {}),
  });
}

export { toWebRequest, writeWebResponse, closeSignal } from './node-bridge.js';

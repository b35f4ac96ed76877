import type {
  ClaudeGuard,
  GuardedCall,
  GuardedClaude,
  MessageStreamParams,
  RouteOptions,
  StreamCallOptions,
} from '@claude-guard/core';
import { FALLBACK_HEADER } from '@claude-guard/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { attachCall, callOf, markGuardHandler } from './guard-route.js';
import { headerReader, writeWebResponse } from './node-bridge.js';

/**
 * `req.claude` in a guarded Express route: the guarded Claude facade, plus `stream(res, ...)`
 * that writes the SSE answer to `res`.
 *
 * @example
 * ```ts
 * app.post('/chat', claudeGuard(guard, { route: 'chat' }), guarded((req, res) => req.claude.stream(res, params, { format: 'text' })));
 * ```
 */
export interface ExpressGuardedClaude extends Omit<GuardedClaude, 'stream'> {
  /** Streams a guarded message to `res` (`anthropic` events by default, or `{ format: 'text' }`). */
  readonly stream: (res: Response, params: MessageStreamParams, options?: StreamCallOptions) => Promise<void>;
}

// Express's own defaults (`any` bodies and locals), so a guarded handler reads `req.body` as any other does.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type AnyBody = any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
type AnyLocals = Record<string, any>;

/**
 * A request on a guarded route: Express's `Request`, with its usual type parameters, and `claude`.
 * Only handlers wrapped in {@link guarded} get it: `req.claude` is not typed on every request.
 *
 * @example
 * ```ts
 * const summarize = async (req: GuardedRequest<{ id: string }>, res: Response) =>
 *   res.json(await req.claude.messages.create(paramsFor(req.params.id)));
 * ```
 */
export type GuardedRequest<
  P = Request['params'],
  ResBody = AnyBody,
  ReqBody = AnyBody,
  ReqQuery = Request['query'],
  Locals extends AnyLocals = AnyLocals,
> = Request<P, ResBody, ReqBody, ReqQuery, Locals> & {
  /** Set by `claudeGuard()`. */
  claude: ExpressGuardedClaude;
};

/**
 * A handler of a guarded route: synchronous or async, it gets `req.claude`.
 *
 * @example
 * ```ts
 * const chat: GuardedHandler = async (req, res) => res.json(await req.claude.messages.create(params));
 * ```
 */
export type GuardedHandler<
  P = Request['params'],
  ResBody = AnyBody,
  ReqBody = AnyBody,
  ReqQuery = Request['query'],
  Locals extends AnyLocals = AnyLocals,
> = (
  req: GuardedRequest<P, ResBody, ReqBody, ReqQuery, Locals>,
  res: Response<ResBody, Locals>,
  next: NextFunction,
) => unknown;

/**
 * Route middleware: gives the handlers after it `req.claude`, whose calls run under the request's
 * deadline (from `x-request-timeout-ms` and friends), the route's retry policy and breaker. Wrap the
 * handler in {@link guarded} (typed `req.claude`, errors to `next` on Express 4 and 5) and mount
 * {@link claudeGuardErrorHandler} after your routes.
 *
 * @param guard - from `createClaudeGuard()`
 * @param options - the route's name and overrides
 * @returns an Express middleware
 * @example
 * ```ts
 * app.post('/summarize', express.json(), claudeGuard(guard, { route: 'summarize' }), guarded(async (req, res) => {
 *   res.json(await req.claude.messages.create({ model: 'claude-sonnet-5', max_tokens: 512, messages: req.body.messages }));
 * }));
 * app.use(claudeGuardErrorHandler(guard));
 * ```
 */
export function claudeGuard(guard: ClaudeGuard, options: RouteOptions): RequestHandler {
  const route = guard.route(options);
  return markGuardHandler<RequestHandler>((req, res, next) => {
    // No `signal`: the one `close` listener below tells the deadline the client left, where a signal
    // would cost an AbortController and a listener per request (an AbortSignal is ~3 us on Node 20).
    const begun = route.begin({ headers: headerReader(req) });
    if (!begun.ok) {
      writeWebResponse(res, begun.response).catch(next);
      return;
    }
    const call = begun.call;
    attachCall(req, { call, route: route.name });
    res.setHeader(call.requestIdHeader, call.requestId);
    // `on`, not `once`: a response closes once, and `once` wraps the listener per request.
    res.on('close', () => {
      // Closed before the response was finished: the client left, so its attempts stop now.
      if (!res.writableFinished) call.deadline.abortForClient();
      call.end(res.writableFinished ? res.statusCode : 499);
    });
    const claude: ExpressGuardedClaude = new ExpressClaude(call, res);
    (req as GuardedRequest).claude = claude;
    // The handlers after it run in the request's context: calls of `guard.middleware()` clients
    // anywhere below them take its deadline, disconnect and request id.
    guard.withRequest(call, next);
  });
}

/**
 * Wraps a guarded route's handler: it gets `req.claude`, typed, and whatever it throws or rejects with
 * goes to `next(error)`, so {@link claudeGuardErrorHandler} answers it. Express 5 forwards a rejected
 * promise by itself; Express 4 does not, and an async handler's rejection there is unhandled (Node ends
 * the process). Mount it after `claudeGuard()` on the same route; without it, it passes an error on.
 * Route parameters are typed as for any wrapped Express handler, by the first type parameter.
 *
 * @param handler - `(req, res, next)`, synchronous or async, with `req.claude`
 * @returns an Express handler
 * @example
 * ```ts
 * app.post('/chat/:id', express.json(), claudeGuard(guard, { route: 'chat' }), guarded<{ id: string }>(async (req, res) => {
 *   res.json(await req.claude.messages.create(paramsFor(req.params.id, req.body)));
 * }));
 * ```
 */
export function guarded<
  P = Request['params'],
  ResBody = AnyBody,
  ReqBody = AnyBody,
  ReqQuery = Request['query'],
  Locals extends AnyLocals = AnyLocals,
>(
  handler: GuardedHandler<P, ResBody, ReqBody, ReqQuery, Locals>,
): RequestHandler<P, ResBody, ReqBody, ReqQuery, Locals> {
  return (req, res, next) => {
    if (!callOf(req)) {
      next(new TypeError('claude-guard: guarded(handler) runs only after claudeGuard() on the same route'));
      return;
    }
    let result: unknown;
    try {
      result = handler(req as GuardedRequest<P, ResBody, ReqBody, ReqQuery, Locals>, res, next);
    } catch (error) {
      next(error);
      return;
    }
    if (isThenable(result)) {
      // As Express 5 does: a rejection without a reason still fails the request.
      result.then(undefined, (error: unknown) => next(error ?? new Error('Rejected promise')));
    }
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * `req.claude`: the core's facade with a `stream` that writes to a Node response. A class, built per
 * request: an object literal that spread the facade and defined a getter cost about 2 us per request
 * on Node 20 (against 0.1 us). `log` is a getter on the prototype, as the core's facade's is.
 */
class ExpressClaude implements ExpressGuardedClaude {
  readonly messages: ExpressGuardedClaude['messages'];
  readonly stream: ExpressGuardedClaude['stream'];
  readonly run: ExpressGuardedClaude['run'];
  readonly deadline: ExpressGuardedClaude['deadline'];
  readonly requestId: string;
  readonly #call: GuardedCall;

  constructor(call: GuardedCall, res: Response) {
    const claude = call.claude;
    this.#call = call;
    // A fallback's answer says so in a header, set before the handler can send its response.
    this.messages = {
      create: (params, requestOptions) =>
        claude.messages.create(params, requestOptions).then((message) => {
          if (call.fallbackModel !== undefined && !res.headersSent) res.setHeader(FALLBACK_HEADER, call.fallbackModel);
          return message;
        }),
    };
    this.stream = async (target, params, streamOptions) =>
      writeWebResponse(target, await claude.stream(params, streamOptions));
    this.run = claude.run;
    this.deadline = claude.deadline;
    this.requestId = claude.requestId;
  }

  /** The request's logger, built only if the handler reads it. */
  get log(): ExpressGuardedClaude['log'] {
    return this.#call.claude.log;
  }
}

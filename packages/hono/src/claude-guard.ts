import type {
  ClaudeGuard,
  GuardedCall,
  GuardedClaude,
  MessageStreamParams,
  RouteOptions,
  StreamCallOptions,
} from '@claude-guard/core';
import { FALLBACK_HEADER, claudeGuardErrorOf } from '@claude-guard/core';
import type { Context, MiddlewareHandler } from 'hono';
import { attachCall, markGuardHandler } from './guard-route.js';
import { httpError } from './http-exception.js';

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
 * `x-request-timeout-ms` and friends), the route's retry policy and breaker. What the handlers after
 * it throw is answered Anthropic-shaped, whatever `app.onError` answered: the guard's own errors and
 * `HTTPException`s with their status and text, anything else (a bug) with the sanitized 500, its error
 * logged once, at error level, with its stack, through the guard's logger.
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
  return markGuardHandler<MiddlewareHandler<{ Variables: ClaudeGuardVariables }>>(async (c, next) => {
    const begun = route.begin({ headers: c.req.raw.headers, signal: c.req.raw.signal });
    if (!begun.ok) return begun.response;
    const call = begun.call;
    attachCall(c, { call, route: route.name });
    c.set('claude', new HonoClaude(call));
    try {
      // The handlers after it run in the request's context: calls of `guard.middleware()` clients
      // anywhere below them take its deadline, disconnect and request id.
      await guard.withRequest(call, next);
      const error: unknown = c.error;
      if (error) {
        // The guard's error, also behind the SDK error of a call a `guard.middleware()` client gave up on.
        const answered = claudeGuardErrorOf(error) ?? (await httpError(error)) ?? error;
        guard.reportError(answered, { route: route.name, requestId: call.requestId });
        replaceResponse(c, call.errorResponse(answered));
        c.error = undefined;
      }
      c.res.headers.set(call.requestIdHeader, call.requestId);
      if (call.fallbackModel !== undefined) c.res.headers.set(FALLBACK_HEADER, call.fallbackModel);
    } finally {
      // While a stream is still being read, the call ends when the stream does.
      call.end(c.res.status);
    }
    return undefined;
  });
}

/**
 * `c.var.claude`: the core's facade with a `stream` that takes `c`. A class, built per request: an
 * object literal that spread the facade and defined a getter cost about 2 us per request on Node 20
 * (against 0.1 us). `log` is a getter on the prototype, as the core's facade's is.
 */
class HonoClaude implements HonoGuardedClaude {
  readonly messages: HonoGuardedClaude['messages'];
  readonly stream: HonoGuardedClaude['stream'];
  readonly run: HonoGuardedClaude['run'];
  readonly deadline: HonoGuardedClaude['deadline'];
  readonly requestId: string;
  readonly #call: GuardedCall;

  constructor(call: GuardedCall) {
    const claude = call.claude;
    this.#call = call;
    this.messages = claude.messages;
    this.stream = (_c, params, streamOptions) => claude.stream(params, streamOptions);
    this.run = claude.run;
    this.deadline = claude.deadline;
    this.requestId = claude.requestId;
  }

  /** The request's logger, built only if the handler reads it. */
  get log(): HonoGuardedClaude['log'] {
    return this.#call.claude.log;
  }
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

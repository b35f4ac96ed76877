import { APIConnectionError, APIError, type Middleware, type MiddlewareContext } from '@anthropic-ai/sdk';
import { insideGuardedAttempt, noteSdkMiddleware, type AsyncContext } from './async-context.js';
import type { ClaudeClient, ClaudeRequestOptions, MessageStreamParams } from './claude-client.js';
import { deadlineToHeaders } from './deadline-header.js';
import type { ClaudeGuardError } from './guard-error.js';
import { rememberGuardError } from './guard-error-of.js';
import type { HeaderReader } from './guarded-call.js';
import { beginRequest, type GuardedRequest } from './guarded-request.js';
import { isMessage, MalformedMessageError } from './message-body.js';
import { SDK_CALL } from './retry-loop.js';
import type { RouteRuntime } from './route-runtime.js';
import { keepSignal } from './signal-pool.js';
import { startStream, type StreamAnswers } from './stream-engine.js';
import { upstreamRequestId } from './upstream-headers.js';

/**
 * The header that names, for one call, the route a `guard.middleware()` client runs it under; the
 * middleware removes it before the request is sent.
 *
 * @example
 * ```ts
 * await client.messages.create(params, { headers: { [GUARD_ROUTE_HEADER]: 'summarize' } });
 * ```
 */
export const GUARD_ROUTE_HEADER = 'x-claude-guard-route';

/**
 * Where a Claude call made through a `guard.middleware()` client takes its time, signal and
 * request id from: the guarded request it is made in (set by the adapters' `claudeGuard()`), or an
 * explicit `guard.withContext()`. Read only by the middleware.
 */
export interface CallContext {
  readonly requestId: string | undefined;
  /** Aborts when the request's client goes away (or the explicit signal aborts). */
  signal(): AbortSignal | undefined;
  /** The time left, and whether the caller chose it (a deadline header); `undefined`: none. */
  budget(): { ms: number; callerSet: boolean } | undefined;
}

/** What a guard gives its middleware. */
export interface SdkMiddlewareDeps {
  /** The route of a call: the middleware's own (`undefined`), or one named by {@link GUARD_ROUTE_HEADER}. */
  routeFor(name: string | undefined): RouteRuntime;
  readonly context: AsyncContext<CallContext>;
}

// Every middleware a guard made: a client-wide one steps aside for a per-request one.
const GUARD_MIDDLEWARES = new WeakSet<Middleware>();
// Requests a guard middleware sends on: an inner guard middleware (two in one chain) passes them on
// as they are, so no call is ever guarded twice (attempts would multiply).
const GUARDED = new WeakSet<object>();

type ApiRequest = Parameters<Middleware>[0];

/**
 * Builds the SDK middleware of `guard.middleware()`. Each API call it sees runs as one guarded
 * request of its route, through `beginRequest` and the route's retry policy (breaker, budget,
 * attempt timeout), with the request's deadline when made inside one; streams go through the
 * stream engine (first-event and idle timeouts, in-band errors, the breaker's verdict at the
 * commit) and reach the SDK re-encoded as SSE, which the SDK parses as usual.
 *
 * No SDK retry is ever added on top: every error `Response` it returns carries
 * `x-should-retry: false`, which the SDK obeys before anything else, and it throws only when the
 * caller's own signal aborted (the SDK answers `APIUserAbortError` and never retries). The SDK's
 * own timer is left out of the request the middleware sends: the guard's deadline and attempt
 * timeout govern, and `x-stainless-timeout` says the attempt's time.
 *
 * @param deps - The route lookup and the guard's context store.
 * @returns The middleware.
 *
 * @example
 * ```ts
 * const middleware = createSdkMiddleware({ routeFor: () => runtime, context });
 * const client = new Anthropic({ middleware: [middleware], maxRetries: 0 });
 * ```
 */
export function createSdkMiddleware(deps: SdkMiddlewareDeps): Middleware {
  // From now on guard.run / claude.run attempts say they are guarded (see runAsGuardedAttempt).
  noteSdkMiddleware();
  const middleware: Middleware = async (request, next, ctx) => {
    const options = ctx.options;
    // Not an API call (a credential exchange), a binary download, a request already guarded, or a
    // per-request guard middleware taking this call: sent on untouched.
    if (options === undefined || options.__binaryResponse || GUARDED.has(request) || defersTo(ctx, middleware)) {
      return next(request);
    }
    // Inside `guard.run` / `claude.run`: that attempt is guarded already, its call made with
    // `sdkOptions(attempt)` (`maxRetries: 0`). Sent on as it is: its error status must reach the
    // guard's policy unchanged (an added `x-should-retry: false` would stop the guard's own retries).
    if (insideGuardedAttempt.get()) return next(request);
    const routeName = request.headers.get(GUARD_ROUTE_HEADER);
    const route = deps.routeFor(routeName ?? undefined);
    const userSignal = options.signal ?? undefined;
    const begun = beginCall(route, deps.context.get(), userSignal);
    if (!begun.ok) return sdkErrorResponse(begun.response, begun.error);
    const call = begun.call;
    let attempt = 0;
    // One attempt's HTTP request: the attempt's signal in place of the SDK's (whose timer would
    // cut a stream the guard keeps alive), its time and number in the `x-stainless-*` headers.
    const send = async (signal: AbortSignal, timeoutMs: number): Promise<Response> => {
      const headers = new Headers(request.headers);
      headers.delete(GUARD_ROUTE_HEADER);
      headers.set('x-stainless-timeout', String(Math.trunc(timeoutMs / 1000)));
      headers.set('x-stainless-retry-count', String(attempt++));
      const forwarded: ApiRequest = { ...request, headers, signal };
      GUARDED.add(forwarded);
      let response: Response;
      try {
        response = await next(forwarded);
      } catch (error) {
        // The attempt's own reason (deadline, attempt timeout, client gone) explains an abort.
        if (signal.aborted) throw signal.reason;
        throw new APIConnectionError({ cause: error instanceof Error ? error : undefined });
      }
      call.record.upstreamAnswered(
        upstreamRequestId(response.headers.get('request-id'), route.secrets),
        response.status,
      );
      if (!response.ok) throw await statusError(response);
      return response;
    };
    const answer =
      options.stream === true
        ? await sendStream(call, route, request, send)
        : await sendOnce(call, route, request, send);
    if (answer.ok) return answer.response;
    // The caller's own signal: the SDK answers `APIUserAbortError` for a thrown abort, and never retries it.
    if (userSignal?.aborted) throw new DOMException('The caller aborted the request', 'AbortError');
    return sdkErrorResponse(answer.response, answer.error);
  };
  GUARD_MIDDLEWARES.add(middleware);
  return middleware;
}

type Answer = { ok: true; response: Response } | { ok: false; response: Response; error: ClaudeGuardError };
type Send = (signal: AbortSignal, timeoutMs: number) => Promise<Response>;

/** A non-streaming call: attempts under the route's policy; the body is read within the attempt. */
async function sendOnce(call: GuardedRequest, route: RouteRuntime, request: ApiRequest, send: Send): Promise<Answer> {
  const isMessages = isMessagesCall(request);
  const params = isMessages ? parseBody(request.body) : undefined;
  if (isMessages) call.record.called(modelOf(params), false);
  let release: (() => void) | undefined;
  try {
    // Admission first (the route's concurrency slot, the client's rate-limit hold), as for `req.claude`.
    release = await call.admit(params);
    const answer = await route.retry.execute(
      async (context) => {
        // Handed to fetch, which may keep listening after the attempt: never reused for another call.
        keepSignal(context.signal);
        // The ticket a message's usage reconciles: the estimate admission debited is recalibrated by it.
        const ticket = isMessages ? route.answers?.ticket(params) : undefined;
        // Told to the rate-limit tracker, as every guarded attempt's answer is: its headers, a 429's hold.
        let response: Response;
        try {
          response = await send(context.signal, context.timeout);
        } catch (error) {
          route.answers?.failed(error);
          throw error;
        }
        route.answers?.answered(response);
        // Read here, under the attempt's signal and time: a body that stalls is this attempt's failure.
        const body = await response.arrayBuffer();
        let data: unknown;
        if (isMessages) {
          try {
            data = JSON.parse(new TextDecoder().decode(body));
          } catch {
            throw new MalformedMessageError('not-a-message', response.status);
          }
          // A 2xx that is not a Message is the upstream's failure: retried, counted by the breaker.
          if (!isMessage(data)) throw new MalformedMessageError('not-a-message', response.status);
          // To the attempt's span, if any: its id, model, stop reason and usage (never its content).
          call.record.messageAnswered(data);
          if (ticket !== undefined) route.answers?.reconcile(ticket, data.usage);
        }
        return { body, response, data };
      },
      call,
      SDK_CALL,
    );
    if (isMessages) {
      call.record.answeredWith(call.record.upstreamRequestId);
      call.record.recordUsage((answer.data as { usage?: unknown }).usage);
    }
    call.end(answer.response.status);
    return { ok: true, response: new Response(answer.body, answer.response) };
  } catch (error) {
    const guardError = call.toGuardError(error);
    return { ok: false, response: call.reject(guardError), error: guardError };
  } finally {
    release?.();
  }
}

/**
 * A streaming call: the stream engine's attempts, commit and forwarding. Its 200 is handed to the
 * SDK, which parses the re-encoded events: a failure after the commit is an in-band `error` event,
 * so the SDK's iterator throws rather than ending cleanly.
 */
async function sendStream(call: GuardedRequest, route: RouteRuntime, request: ApiRequest, send: Send): Promise<Answer> {
  let told: ClaudeGuardError | undefined;
  const answers: StreamAnswers = {
    responseHeaders: () => call.responseHeaders(),
    errorResponse: (error) => {
      told = call.toGuardError(error);
      return call.errorResponse(told);
    },
    toGuardError: (error) => call.toGuardError(error),
  };
  const params = parseBody(request.body);
  // The engine asks a client for one attempt's response; this one sends the SDK's own request.
  const client = {
    messages: {
      create: (_params: unknown, options: ClaudeRequestOptions) => ({
        asResponse: () => send(options.signal!, options.timeout!),
      }),
    },
  } as unknown as ClaudeClient;
  let release: (() => void) | undefined;
  try {
    // Admission first, as for `req.claude`: the slot is held until the stream is over.
    release = await call.admit(params);
  } catch (error) {
    call.record.called(modelOf(params), true);
    const guardError = call.toGuardError(error);
    return { ok: false, response: call.reject(guardError), error: guardError };
  }
  const response = await startStream({
    client,
    // The engine reads only `model` (for the record): the body is sent as the SDK built it.
    params: { ...params, model: modelOf(params) } as unknown as MessageStreamParams,
    format: 'anthropic',
    limits: route.config.stream,
    clock: route.clock,
    deadline: call.deadline,
    record: call.record,
    policy: route.retry,
    secrets: route.secrets,
    answers,
    // The engine tells the tracker of each attempt, as for `req.claude`'s streams.
    rateLimits: route.answers,
    log: route.records.log,
    onClosed: release,
  });
  // The record waits for the stream to close before it writes its line.
  call.end(response.status);
  if (response.status === 200) return { ok: true, response };
  // Every error answer is the engine's `errorResponse`, which set `told`; never one the SDK may retry.
  return { ok: false, response, error: told ?? call.toGuardError(undefined) };
}

/** A per-request guard middleware (in `options.middleware`) takes the call from a client-wide one. */
function defersTo(ctx: MiddlewareContext, middleware: Middleware): boolean {
  const perRequest = ctx.options?.middleware;
  if (perRequest === undefined || perRequest.includes(middleware)) return false;
  return perRequest.some((other) => GUARD_MIDDLEWARES.has(other));
}

/**
 * Begins the call as a guarded request of `route`: with the context's request id, time and signal
 * when there is one, else the route's defaults. A time the caller chose travels as a deadline
 * header, so that it is the caller's (neutral for the breaker when it runs out), as for `req.claude`.
 */
function beginCall(route: RouteRuntime, context: CallContext | undefined, userSignal: AbortSignal | undefined) {
  const contextSignal = context?.signal();
  const signal =
    contextSignal && userSignal ? AbortSignal.any([contextSignal, userSignal]) : (contextSignal ?? userSignal);
  if (context === undefined) return beginRequest(route, { headers: NO_HEADERS, signal }, false);
  const budget = context.budget();
  const requestIdHeader = route.requestIdHeader.toLowerCase();
  const deadlineHeaders = route.config.deadline.headers;
  // Spent already: the header path answers 504 at once, without calling Claude.
  const asHeader = budget !== undefined && deadlineHeaders.length > 0 && (budget.callerSet || budget.ms < 1);
  const values: Record<string, string> = asHeader ? deadlineToHeaders(budget.ms, deadlineHeaders) : {};
  if (context.requestId !== undefined) values[requestIdHeader] = context.requestId;
  const headers: HeaderReader = { get: (name) => values[name.toLowerCase()] ?? null };
  const ownMs =
    budget === undefined || asHeader ? undefined : Math.min(Math.max(1, budget.ms), route.config.deadline.maxMs);
  return beginRequest(route, { headers, signal }, false, ownMs);
}

const NO_HEADERS: HeaderReader = { get: () => null };

/** The guard's error as the SDK must see it: an error it does not retry, whose status is the guard's. */
function sdkErrorResponse(response: Response, error: ClaudeGuardError): Response {
  const headers = new Headers(response.headers);
  headers.set('x-should-retry', 'false');
  const answer = new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  rememberGuardError(answer.headers, error);
  return answer;
}

/** An upstream error status as the SDK's own error, which the retry policy classifies. */
async function statusError(response: Response): Promise<APIError> {
  const text = await response.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return APIError.generate(response.status, body as object | undefined, body ? undefined : text, response.headers);
}

function isMessagesCall(request: ApiRequest): boolean {
  return request.method?.toUpperCase() === 'POST' && new URL(request.url).pathname.endsWith('/v1/messages');
}

function parseBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'string') return {};
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function modelOf(params: Record<string, unknown> | undefined): string {
  const model = params?.['model'];
  return typeof model === 'string' ? model : 'unknown';
}

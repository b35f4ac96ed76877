import type { ClaudeMessage, ClaudeRequestOptions, MessageCreateParams, MessageStreamParams } from './claude-client.js';
import { classifyFailure } from './classify.js';
import { sendMessage } from './create-message.js';
import { Deadline, deadlineFor } from './deadline.js';
import { internalError } from './failure-wording.js';
import { runFallback } from './fallback.js';
import type { BeginInput, GuardedCall, GuardedClaude, StreamCallOptions } from './guarded-call.js';
import { isClaudeGuardError, tagRequest, type ClaudeGuardError } from './guard-error.js';
import { NO_REQUEST_LOG, type RequestLogger } from './logger.js';
import { RequestRecord } from './request-record.js';
import { resolveRequestId } from './request-id.js';
import { errorResponse } from './response.js';
import { CALLER_CODE, SDK_CALL, type AttemptContext, type AttemptTraits, type RetryPolicy } from './retry-loop.js';
import type { RouteRuntime } from './route-runtime.js';
import { startStream } from './stream-engine.js';

/** {@link beginRequest}'s answer: the request, or its immediate answer (a bad or spent deadline header). */
export type Begun = { ok: true; call: GuardedRequest } | { ok: false; response: Response; error: ClaudeGuardError };

/**
 * Starts a guarded request on a route: its correlation id, its deadline (the route's policy and the
 * caller's headers) and its record. A malformed or spent deadline header answers at once (400 or
 * 504), still with one log line, written by a record like every other request's.
 *
 * @param route - The route's runtime.
 * @param input - The incoming headers and the client's signal.
 * @param passthrough - The passthrough (`route.proxy`) may forward the upstream's 4xx messages.
 * @param ownDeadlineMs - This request's budget in place of the route's `deadline.defaultMs`
 *   (`guard.run`'s `deadlineMs`), already validated; a caller's deadline header still wins.
 * @returns The request, or its answer.
 *
 * @example
 * ```ts
 * const begun = beginRequest(runtime, { headers: request.headers, signal: request.signal }, false);
 * ```
 */
export function beginRequest(
  route: RouteRuntime,
  input: BeginInput,
  passthrough: boolean,
  ownDeadlineMs?: number,
): Begun {
  const requestIdHeader = route.requestIdHeader;
  const requestId = resolveRequestId(input.headers.get(requestIdHeader), route.nextRequestId);
  const policy = route.config.deadline;
  const resolved = deadlineFor(
    input.headers,
    input.signal,
    route.clock,
    ownDeadlineMs === undefined ? policy : { ...policy, defaultMs: ownDeadlineMs },
  );
  if (resolved instanceof Deadline) {
    const record = new RequestRecord(route.records, requestId, resolved);
    const policy = passthrough ? route.passthroughRetry : route.retry;
    return { ok: true, call: new GuardedRequest(route, record, resolved, policy) };
  }
  // Answered without a call: still one log line, like every other request.
  const record = new RequestRecord(route.records, requestId, undefined);
  record.setOutcome(resolved.outcome);
  record.end(resolved.status);
  return {
    ok: false,
    error: resolved,
    response: errorResponse(tagRequest(resolved, requestId, requestIdHeader), { requestId, requestIdHeader }),
  };
}

/**
 * One guarded request: the {@link GuardedCall} the public API shows, over the request's record,
 * deadline and the route's policy. It only delegates: attempts to the retry policy, a message call
 * to `sendMessage`, its plan B to `runFallback`, streams to the stream engine, facts to the record,
 * wording to failure-wording. Built by {@link beginRequest}.
 */
export class GuardedRequest implements GuardedCall {
  readonly deadline: Deadline;
  readonly record: RequestRecord;
  readonly claude: GuardedClaude;
  readonly #route: RouteRuntime;
  readonly #policy: RetryPolicy;
  #log: RequestLogger | undefined;

  constructor(route: RouteRuntime, record: RequestRecord, deadline: Deadline, policy: RetryPolicy) {
    this.#route = route;
    this.record = record;
    this.deadline = deadline;
    this.#policy = policy;
    this.claude = new ClaudeFacade(this);
  }

  /** The request's logger, built the first time a handler asks for it: nothing is spent on it otherwise. */
  get log(): RequestLogger {
    return (this.#log ??=
      this.#route.records.log?.forRequest(this.#route.config.route, this.requestId) ?? NO_REQUEST_LOG);
  }

  get requestId(): string {
    return this.record.requestId;
  }

  get requestIdHeader(): string {
    return this.#route.requestIdHeader;
  }

  run<T>(fn: (attempt: AttemptContext) => Promise<T>): Promise<T> {
    return this.#execute(fn, CALLER_CODE);
  }

  async #execute<T>(start: (context: AttemptContext) => Promise<T>, traits: AttemptTraits): Promise<T> {
    try {
      return await this.#policy.execute(start, this, traits);
    } catch (error) {
      if (isClaudeGuardError(error)) tagRequest(error, this.requestId, this.requestIdHeader);
      throw error;
    }
  }

  /** Non-streaming create, with the upstream response (its headers are forwarded by the passthrough). */
  createMessageWithResponse(
    params: MessageCreateParams,
    options?: ClaudeRequestOptions,
  ): Promise<{ data: ClaudeMessage; response: Response | undefined }> {
    return this.#create(params, options, true);
  }

  createMessage(params: MessageCreateParams, options?: ClaudeRequestOptions): Promise<ClaudeMessage> {
    return this.#create(params, options, false);
  }

  /**
   * Both creates: the handler's `messages.create` (`withResponse` false) gets the Message itself,
   * with no wrapper object or second frame around it.
   */
  #create(
    params: MessageCreateParams,
    options: ClaudeRequestOptions | undefined,
    withResponse: true,
  ): Promise<{ data: ClaudeMessage; response: Response | undefined }>;
  #create(
    params: MessageCreateParams,
    options: ClaudeRequestOptions | undefined,
    withResponse: false,
  ): Promise<ClaudeMessage>;
  #create(
    params: MessageCreateParams,
    options: ClaudeRequestOptions | undefined,
    withResponse: boolean,
  ): Promise<ClaudeMessage | { data: ClaudeMessage; response: Response | undefined }> {
    const route = this.#route;
    const record = this.record;
    record.called(params.model, false);
    const { client, secrets } = route;
    // The policy directly, not #execute, and handlers rather than an async frame: this is the
    // hot path. Same tagging below.
    return this.#policy
      .execute((context) => sendMessage(client, params, options, record, secrets, context), this, SDK_CALL)
      .then(
        (answer) => {
          record.answeredWith(answer.upstreamRequestId);
          record.recordUsage(answer.data.usage);
          return withResponse ? { data: answer.data, response: answer.response } : answer.data;
        },
        (error: unknown) => this.#fallback(error, params, withResponse),
      );
  }

  /** The route's plan B for a failed create (or the failure, tagged with this request's id). */
  async #fallback(
    error: unknown,
    params: MessageCreateParams,
    withResponse: boolean,
  ): Promise<ClaudeMessage | { data: ClaudeMessage; response: Response | undefined }> {
    const route = this.#route;
    if (isClaudeGuardError(error)) tagRequest(error, this.requestId, this.requestIdHeader);
    const data = (await runFallback(error, {
      route: route.config.route,
      fallback: route.config.fallback,
      client: route.client,
      params,
      deadline: this.deadline,
      record: this.record,
    })) as ClaudeMessage;
    return withResponse ? { data, response: undefined } : data;
  }

  stream(params: MessageStreamParams, options?: StreamCallOptions): Promise<Response> {
    const route = this.#route;
    return startStream({
      client: route.client,
      params,
      format: options?.format ?? 'anthropic',
      limits: route.config.stream,
      clock: route.clock,
      deadline: this.deadline,
      record: this.record,
      policy: this.#policy,
      secrets: route.secrets,
      answers: this,
      onFinal: options?.onFinal,
      log: route.records.log,
    });
  }

  responseHeaders(): Headers {
    const headers = new Headers({ [this.requestIdHeader]: this.requestId });
    const upstream = this.record.upstreamRequestId;
    if (upstream) headers.set('x-upstream-request-id', upstream);
    return headers;
  }

  errorResponse(error: unknown): Response {
    const guardError = this.toGuardError(error);
    this.record.defaultOutcome(guardError.outcome);
    return errorResponse(guardError, {
      requestId: this.requestId,
      requestIdHeader: this.requestIdHeader,
      upstreamRequestId: this.record.upstreamRequestId,
    });
  }

  toGuardError(error: unknown): ClaudeGuardError {
    if (isClaudeGuardError(error)) return tagRequest(error, this.requestId, this.requestIdHeader);
    const failure = classifyFailure(error, {
      deadline: this.deadline,
      countRateLimits: false,
      now: this.#route.records.now,
    });
    return tagRequest(
      internalError(this.#route.config.route, failure.kind === 'client-abort'),
      this.requestId,
      this.requestIdHeader,
    );
  }

  /** Answers `error` (a refusal before Claude is called): its response, its outcome, the end. */
  reject(error: ClaudeGuardError): Response {
    const response = this.errorResponse(error);
    this.record.setOutcome(error.outcome);
    this.end(response.status);
    return response;
  }

  /** Ends the request with `error` as its outcome and status (for `guard.run`): the error, tagged. */
  endWithError(error: unknown): ClaudeGuardError {
    const guardError = this.toGuardError(error);
    this.record.setOutcome(guardError.outcome);
    this.end(guardError.status);
    return guardError;
  }

  end(status: number): void {
    this.record.end(status);
  }
}

/**
 * The {@link GuardedClaude} a handler gets. Its calls are own fields, so an adapter that copies the
 * facade (`{ ...call.claude, stream }`) copies them; `log` is a getter on the prototype, so copying
 * the facade does not build the request's logger: only reading `log` does.
 */
class ClaudeFacade implements GuardedClaude {
  readonly messages: GuardedClaude['messages'];
  readonly stream: GuardedClaude['stream'];
  readonly run: GuardedClaude['run'];
  readonly deadline: Deadline;
  readonly requestId: string;
  readonly #request: GuardedRequest;

  constructor(request: GuardedRequest) {
    this.#request = request;
    this.messages = { create: (params, options) => request.createMessage(params, options) };
    this.stream = (params, options) => request.stream(params, options);
    this.run = (fn) => request.run(fn);
    this.deadline = request.deadline;
    this.requestId = request.record.requestId;
  }

  get log(): RequestLogger {
    return this.#request.log;
  }
}

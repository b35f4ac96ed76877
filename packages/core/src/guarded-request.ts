import { runAsGuardedAttempt } from './async-context.js';
import type { Lane, Release } from './concurrency-limiter.js';
import type { ClaudeMessage, ClaudeRequestOptions, MessageCreateParams, MessageStreamParams } from './claude-client.js';
import { classifyFailure } from './classify.js';
import { sendMessage } from './create-message.js';
import { Deadline, resolveDeadline } from './deadline.js';
import { internalError } from './failure-wording.js';
import { startRequestSpan } from './instrumentation.js';
import { runFallback } from './fallback.js';
import type { HedgeCall } from './hedge.js';
import { FALLBACK_HEADER, messageLeg } from './hedge-legs.js';
import type { BeginInput, GuardedCall, GuardedClaude, StreamCallOptions } from './guarded-call.js';
import { isClaudeGuardError, tagRequest, type ClaudeGuardError } from './guard-error.js';
import { claudeGuardErrorOf } from './guard-error-of.js';
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
  const resolved = resolveDeadline({
    headers: input.headers,
    signal: input.signal,
    clock: route.clock,
    policy:
      ownDeadlineMs === undefined
        ? route.config.deadline
        : { ...route.config.deadline, defaultMs: ownDeadlineMs, defaultSource: 'call-option' },
  });
  // The request's span, only with the guard's instrumentation: without it nothing is built.
  const instrumentation = route.instrumentation;
  const span =
    instrumentation === undefined
      ? undefined
      : startRequestSpan(instrumentation, { route: route.config.route, requestId, headers: input.headers });
  if (resolved instanceof Deadline) {
    const record = new RequestRecord(route.records, requestId, resolved, span);
    const policy = passthrough ? route.passthroughRetry : route.retry;
    return { ok: true, call: new GuardedRequest(route, record, resolved, policy, input.lane) };
  }
  // Answered without a call: still one log line, like every other request.
  const record = new RequestRecord(route.records, requestId, undefined, span);
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
  /** The call's own queue lane (`guard.run`'s `lane`); `undefined`: the route's. */
  readonly #lane: Lane | undefined;
  #log: RequestLogger | undefined;
  #hedgeCall: HedgeCall | undefined;
  #fallbackModel: string | undefined;

  constructor(route: RouteRuntime, record: RequestRecord, deadline: Deadline, policy: RetryPolicy, lane?: Lane) {
    this.#route = route;
    this.record = record;
    this.deadline = deadline;
    this.#policy = policy;
    this.#lane = lane;
    this.claude = new ClaudeFacade(this);
  }

  /**
   * Admission control for a call made outside this class's own methods (the SDK middleware's): the
   * slot its attempts share (release it once when the call is over), `undefined` when the route admits
   * everything, or a rejection with the error that answers it without calling Claude.
   */
  async admit(body: unknown): Promise<Release | undefined> {
    return this.#admit(body);
  }

  /**
   * Admission control (before the retry policy): the slot this call's attempts share, or the error that
   * answers it without calling Claude. Resolves with a no-op when the route admits everything.
   */
  #admit(body: unknown): Release | Promise<Release> | undefined {
    const admission = this.#route.admission;
    if (admission === undefined) return undefined;
    return admission.admit({ deadline: this.deadline, requestId: this.requestId, lane: this.#lane, body });
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

  /** The fallback model that answered this request's non-streaming call, if one did. */
  get fallbackModel(): string | undefined {
    return this.#fallbackModel;
  }

  run<T>(fn: (attempt: AttemptContext) => Promise<T>): Promise<T> {
    // A `guard.middleware()` client called in `fn` leaves the attempt to this policy.
    return this.#execute((attempt) => runAsGuardedAttempt(() => fn(attempt)), CALLER_CODE);
  }

  async #execute<T>(start: (context: AttemptContext) => Promise<T>, traits: AttemptTraits): Promise<T> {
    let release: Release | undefined;
    try {
      const admitting = this.#admit(undefined);
      if (admitting) release = typeof admitting === 'function' ? admitting : await admitting;
      return await this.#policy.execute(start, this, traits);
    } catch (error) {
      if (isClaudeGuardError(error)) tagRequest(error, this.requestId, this.requestIdHeader);
      throw error;
    } finally {
      release?.();
    }
  }

  /** Non-streaming create, with the upstream response (its headers are forwarded by the passthrough). */
  async createMessageWithResponse(
    params: MessageCreateParams,
    options?: ClaudeRequestOptions,
  ): Promise<{ data: ClaudeMessage; response: Response | undefined }> {
    const route = this.#route;
    const record = this.record;
    record.called(params.model, false, params.max_tokens);
    const { client, secrets, answers } = route;
    let release: Release | undefined;
    try {
      // Admitted at once in the common case: no await, no frame.
      const admitting = this.#admit(params);
      if (admitting) release = typeof admitting === 'function' ? admitting : await admitting;
      // The policy directly, not #execute: one async frame less on the hot path, same tagging below.
      const hedge = route.hedge?.message;
      const answer = await this.#policy.execute(
        hedge
          ? (context) =>
              hedge.run(
                (leg) => messageLeg(client, params, options, record, answers, secrets, leg),
                context,
                (this.#hedgeCall ??= { record, state: { hedges: 0 } }),
              )
          : (context) => sendMessage(client, params, options, record, answers, secrets, context),
        this,
        SDK_CALL,
      );
      release?.();
      release = undefined;
      record.answeredWith(answer.upstreamRequestId);
      record.recordUsage(answer.data.usage);
      return { data: answer.data, response: answer.response };
    } catch (error) {
      // Before the fallback: its one attempt is not this call's, and it must not hold the slot.
      release?.();
      if (isClaudeGuardError(error)) tagRequest(error, this.requestId, this.requestIdHeader);
      const answer = await runFallback(error, {
        route: route.config.route,
        fallback: route.config.fallback,
        chain: route.fallbacks,
        params,
        deadline: this.deadline,
        secrets,
        record,
      });
      this.#fallbackModel = answer.model;
      return { data: answer.data as ClaudeMessage, response: answer.response };
    }
  }

  createMessage(params: MessageCreateParams, options?: ClaudeRequestOptions): Promise<ClaudeMessage> {
    // A `then`, not an async frame of its own: this is every `messages.create`'s path.
    return this.createMessageWithResponse(params, options).then(dataOf);
  }

  async stream(params: MessageStreamParams, options?: StreamCallOptions): Promise<Response> {
    const admitting = this.#admit(params);
    if (admitting === undefined) return this.#startStream(params, options, undefined);
    let release: Release;
    try {
      release = typeof admitting === 'function' ? admitting : await admitting;
    } catch (error) {
      // Refused before Claude was called: a real HTTP status, as for any failure before a commit.
      this.record.called(params.model, true);
      return this.errorResponse(error);
    }
    return this.#startStream(params, options, release);
  }

  #startStream(params: MessageStreamParams, options: StreamCallOptions | undefined, release: Release | undefined) {
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
      rateLimits: route.answers,
      fallbacks: route.fallbacks,
      hedger: route.hedge?.stream,
      onFinal: options?.onFinal,
      log: route.records.log,
      // The slot is held until the stream is over, however it ends.
      onClosed: release,
    });
  }

  responseHeaders(): Headers {
    const headers = new Headers({ [this.requestIdHeader]: this.requestId });
    const upstream = this.record.upstreamRequestId;
    if (upstream) headers.set('x-upstream-request-id', upstream);
    if (this.#fallbackModel !== undefined) headers.set(FALLBACK_HEADER, this.#fallbackModel);
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
    // Also the guard's error behind an SDK error a `guard.middleware()` client threw.
    const own = claudeGuardErrorOf(error);
    if (own) return tagRequest(own, this.requestId, this.requestIdHeader);
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

const dataOf = (answer: { data: ClaudeMessage }): ClaudeMessage => answer.data;

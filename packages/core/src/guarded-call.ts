import type { ClaudeMessage, ClaudeRequestOptions, MessageCreateParams, MessageStreamParams } from './claude-client.js';
import { classifyFailure } from './classify.js';
import { Deadline, resolveDeadline } from './deadline.js';
import type { FallbackContext } from './fallback.js';
import { ClaudeGuardError, isClaudeGuardError, tagRequest } from './guard-error.js';
import type { RequestLogRecord } from './logger.js';
import { isBodyDecodeFailure, isMessage, MalformedMessageError } from './message-body.js';
import { resolveRequestId } from './request-id.js';
import { errorResponse } from './response.js';
import { upstreamRequestId } from './upstream-headers.js';
import { runWithRetries, type AttemptContext, type AttemptTraits, type CallState } from './retry-loop.js';

// Our own SDK calls stop when their signal aborts; a caller's fn in `run()` may not.
const SDK_CALL: AttemptTraits = { honoursSignal: true };
const CALLER_CODE: AttemptTraits = { honoursSignal: false };
import type { RouteRuntime } from './route-runtime.js';
import { startStream, type StreamFormat } from './stream-engine.js';

/**
 * Anything with `get(name)`: a `Headers`, or an adapter's view of Node's header object.
 *
 * @example
 * ```ts
 * const headers: HeaderReader = { get: (name) => nodeRequest.headers[name] as string | undefined };
 * ```
 */
export interface HeaderReader {
  get(name: string): string | null | undefined;
}

/**
 * What an adapter passes to start a guarded request.
 *
 * @example
 * ```ts
 * route.begin({ headers: request.headers, signal: request.signal });
 * ```
 */
export interface BeginInput {
  headers: HeaderReader;
  /** Aborts when the end user disconnects. */
  signal?: AbortSignal | undefined;
}

/**
 * The outcome of {@link GuardedRoute.begin}: a call, or an immediate answer (bad deadline header).
 *
 * @example
 * ```ts
 * const begun = route.begin(input);
 * if (!begun.ok) return begun.response;
 * ```
 */
export type BeginResult = { ok: true; call: GuardedCall } | { ok: false; response: Response; error: ClaudeGuardError };

/**
 * Options of {@link GuardedClaude.stream}.
 *
 * @example
 * ```ts
 * await call.claude.stream(params, { format: 'text' });
 * ```
 */
export interface StreamCallOptions {
  /** `anthropic` re-emits Claude's events; `text` sends `event: text` deltas then `event: done`. Default `anthropic`. */
  format?: StreamFormat;
}

/**
 * The Claude facade a guarded handler uses (`req.claude` in Express, `c.var.claude` in Hono).
 * Every call runs under the request's deadline, the route's retry policy and breaker.
 *
 * @example
 * ```ts
 * const message = await req.claude.messages.create({ model: 'claude-sonnet-5', max_tokens: 512, messages });
 * ```
 */
export interface GuardedClaude {
  readonly messages: {
    /** `client.messages.create` (non-streaming), guarded. The guard sets `signal`, `timeout` and `maxRetries: 0`. */
    readonly create: (params: MessageCreateParams, options?: ClaudeRequestOptions) => Promise<ClaudeMessage>;
  };
  /** Streams a message as an SSE `Response`. Resolves when the stream commits, or with an error response if it never does. */
  readonly stream: (params: MessageStreamParams, options?: StreamCallOptions) => Promise<Response>;
  /** Runs any Claude call under the guard; forward `signal` and `timeout` to it. */
  readonly run: <T>(fn: (attempt: AttemptContext) => Promise<T>) => Promise<T>;
  /** The request's deadline: `remaining()`, `signal`, `toHeaders()`. */
  readonly deadline: Deadline;
  /** The correlation id, echoed under `requestIdHeader` (default `x-request-id`). */
  readonly requestId: string;
}

const FALLBACK_OUTCOMES = new Set([
  'breaker-open',
  'upstream-error',
  'upstream-unreachable',
  'attempt-timeout',
  'stream-stalled',
  'retry-budget-exhausted',
]);

/**
 * One guarded request: its deadline, correlation ids, attempt count, and its single log line.
 * Adapters create it with `route.begin()` and call `end()` when the response is over.
 *
 * @example
 * ```ts
 * const begun = route.begin({ headers: request.headers, signal: request.signal });
 * if (!begun.ok) return begun.response;
 * try { return Response.json(await begun.call.claude.messages.create(params)); }
 * catch (err) { return begun.call.errorResponse(err); }
 * finally { begun.call.end(200); }
 * ```
 */
export class GuardedCall {
  readonly requestId: string;
  /** The header the id is read from and echoed in. */
  readonly requestIdHeader: string;
  readonly deadline: Deadline;
  readonly claude: GuardedClaude;
  /** @internal */
  readonly state: CallState;
  /** @internal */
  model: string | undefined;
  /** @internal */
  outputTokens: number | undefined;
  /** @internal */
  streamed = false;
  readonly #runtime: RouteRuntime;
  readonly #startedAt: number;
  #activeStreams = 0;
  #endStatus: number | undefined;
  #outcome: string | undefined;
  #finished = false;

  /** @internal Use `route.begin()`. */
  constructor(runtime: RouteRuntime, requestId: string, deadline: Deadline, forwardClientErrors: boolean) {
    this.#runtime = runtime;
    this.requestId = requestId;
    this.requestIdHeader = runtime.guard.config.requestIdHeader;
    this.deadline = deadline;
    this.#startedAt = runtime.guard.config.clock.now();
    this.state = {
      runtime,
      requestId,
      deadline,
      forwardClientErrors,
      attempts: 0,
      upstreamRequestId: undefined,
    };
    this.claude = {
      messages: { create: (params, options) => this.createMessage(params, options) },
      stream: (params, options) => this.stream(params, options),
      run: (fn) => this.run(fn),
      deadline,
      requestId,
    };
  }

  /** @internal */
  static begin(runtime: RouteRuntime, input: BeginInput, forwardClientErrors: boolean): BeginResult {
    const { config, guard } = runtime;
    const requestId = resolveRequestId(input.headers.get(guard.config.requestIdHeader), guard.nextRequestId);
    const resolved = resolveDeadline({
      headers: input.headers,
      signal: input.signal,
      clock: guard.config.clock,
      policy: config.deadline,
    });
    if (resolved instanceof Deadline) {
      return { ok: true, call: new GuardedCall(runtime, requestId, resolved, forwardClientErrors) };
    }
    // Answered without a call (bad or spent deadline header): still one log line, like every other request.
    writeRequestLine(runtime, {
      route: config.route,
      requestId,
      upstreamRequestId: undefined,
      status: resolved.status,
      outcome: resolved.outcome,
      attempts: 0,
      durationMs: 0,
      model: undefined,
      stream: false,
      outputTokens: undefined,
      sdkVersion: guard.sdkVersion,
    });
    return {
      ok: false,
      error: resolved,
      response: errorResponse(tagRequest(resolved, requestId, guard.config.requestIdHeader), {
        requestId,
        requestIdHeader: guard.config.requestIdHeader,
      }),
    };
  }

  /** Runs `fn` under the deadline, retry policy and breaker. */
  run<T>(fn: (attempt: AttemptContext) => Promise<T>): Promise<T> {
    return this.#run(fn, CALLER_CODE);
  }

  async #run<T>(fn: (attempt: AttemptContext) => Promise<T>, traits: AttemptTraits): Promise<T> {
    try {
      return await runWithRetries(
        this.state,
        (context) => {
          const promise = fn(context);
          return { ready: promise, done: promise };
        },
        traits,
      );
    } catch (error) {
      if (isClaudeGuardError(error)) tagRequest(error, this.requestId, this.requestIdHeader);
      throw error;
    }
  }

  /** @internal Non-streaming create; `withResponse` keeps the upstream headers for the passthrough. */
  async createMessageWithResponse(
    params: MessageCreateParams,
    options?: ClaudeRequestOptions,
  ): Promise<{ data: ClaudeMessage; response: Response | undefined }> {
    this.model = params.model;
    const client = this.#runtime.guard.config.client;
    try {
      const result = await this.#run(async ({ signal, timeout }) => {
        const pending = client.messages.create(params, mergeOptions(options, signal, timeout));
        // The upstream answered once its headers are in, even if its body then fails (cut off, not JSON).
        const status = pending.asResponse().then((response) => {
          const upstreamId = upstreamRequestId(response.headers.get('request-id'), this.#runtime.guard.secrets);
          if (upstreamId) this.state.upstreamRequestId = upstreamId;
          return response.status;
        }, noUpstreamStatus);
        let answer: Awaited<ReturnType<typeof pending.withResponse>>;
        try {
          answer = await pending.withResponse();
        } catch (error) {
          throw await asBodyFault(error, status);
        }
        // The SDK hands back any 2xx body: a page as a string, `[]`, `null`. Only a Message is an answer.
        if (!isMessage(answer.data)) throw new MalformedMessageError('not-a-message', answer.response.status);
        return answer;
      }, SDK_CALL);
      this.state.upstreamRequestId = upstreamRequestId(result.request_id, this.#runtime.guard.secrets);
      const outputTokens: unknown = result.data.usage.output_tokens;
      // Upstream-set: only a number may reach the log line.
      this.outputTokens = typeof outputTokens === 'number' ? outputTokens : undefined;
      return { data: result.data, response: result.response };
    } catch (error) {
      const data = await this.#fallback(error, params);
      return { data: data as ClaudeMessage, response: undefined };
    }
  }

  /** @internal */
  async createMessage(params: MessageCreateParams, options?: ClaudeRequestOptions): Promise<ClaudeMessage> {
    return (await this.createMessageWithResponse(params, options)).data;
  }

  /** @internal */
  stream(params: MessageStreamParams, options?: StreamCallOptions): Promise<Response> {
    this.model = params.model;
    this.streamed = true;
    this.#activeStreams += 1;
    return startStream(this, params, options?.format ?? 'anthropic', () => {
      this.#activeStreams -= 1;
      this.#maybeFinish();
    });
  }

  /** Headers every response of this request carries. */
  responseHeaders(): Headers {
    const headers = new Headers({ [this.requestIdHeader]: this.requestId });
    if (this.state.upstreamRequestId) headers.set('x-upstream-request-id', this.state.upstreamRequestId);
    return headers;
  }

  /** Turns any error thrown under this call into the sanitized Anthropic-shaped response. */
  errorResponse(error: unknown): Response {
    const guardError = this.toGuardError(error);
    this.#outcome ??= guardError.outcome;
    return errorResponse(guardError, {
      requestId: this.requestId,
      requestIdHeader: this.requestIdHeader,
      upstreamRequestId: this.state.upstreamRequestId,
    });
  }

  /** Any error as a {@link ClaudeGuardError}; foreign errors become a generic 500 (no stack, no text). */
  toGuardError(error: unknown): ClaudeGuardError {
    if (isClaudeGuardError(error)) return tagRequest(error, this.requestId, this.requestIdHeader);
    const failure = classifyFailure(error, {
      deadline: this.deadline,
      countRateLimits: false,
      now: this.#runtime.guard.config.clock.now,
    });
    const wrapped = new ClaudeGuardError({
      status: failure.kind === 'client-abort' ? 499 : 500,
      type: 'api_error',
      message: `Internal error in route '${this.#runtime.config.route}'`,
      outcome: failure.kind === 'client-abort' ? 'client-aborted' : 'internal-error',
    });
    return tagRequest(wrapped, this.requestId, this.requestIdHeader);
  }

  /** @internal Records how the request ended, for the log line. */
  setOutcome(outcome: string): void {
    this.#outcome = outcome;
  }

  /**
   * Marks the response as finished with `status`. Writes the log line and releases the
   * deadline's timer, at once or, while a stream is still running, when it ends. Idempotent.
   */
  end(status: number): void {
    if (this.#endStatus !== undefined) return;
    this.#endStatus = status;
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (this.#finished || this.#endStatus === undefined || this.#activeStreams > 0) return;
    this.#finished = true;
    this.deadline.dispose();
    const { guard, config } = this.#runtime;
    const clientGone = this.deadline.clientAborted;
    // 499 (nginx's "client closed request") whatever status had been committed before it left.
    const status = clientGone ? 499 : this.#endStatus;
    const outcome = this.#outcome ?? (clientGone ? 'client-aborted' : status < 400 ? 'ok' : 'error');
    if (!guard.config.logger && !guard.events.active) return;
    writeRequestLine(this.#runtime, {
      route: config.route,
      requestId: this.requestId,
      upstreamRequestId: this.state.upstreamRequestId,
      status,
      outcome,
      attempts: this.state.attempts,
      durationMs: guard.config.clock.now() - this.#startedAt,
      model: this.model,
      stream: this.streamed,
      outputTokens: this.outputTokens,
      sdkVersion: guard.sdkVersion,
    });
  }

  async #fallback(error: unknown, params: MessageCreateParams): Promise<unknown> {
    const fallback = this.#runtime.config.fallback;
    if (
      !fallback ||
      !isClaudeGuardError(error) ||
      !FALLBACK_OUTCOMES.has(error.outcome) ||
      this.deadline.signal.aborted
    ) {
      throw error;
    }
    const context: FallbackContext = {
      route: this.#runtime.config.route,
      reason: error.outcome === 'breaker-open' ? 'breaker-open' : 'exhausted',
      error,
      params,
      signal: this.deadline.signal,
    };
    if (typeof fallback === 'function') {
      this.#outcome = 'fallback';
      return await fallback(context);
    }
    // One attempt on the alternate model, outside the route's breaker, inside the deadline.
    try {
      const message = await this.#runtime.guard.config.client.messages.create(
        { ...params, model: fallback.model },
        { signal: this.deadline.signal, timeout: Math.max(1, this.deadline.remaining()), maxRetries: 0 },
      );
      // The alternate model's answer is checked like the route's own: anything else is no fallback.
      if (!isMessage(message)) throw error;
      this.#outcome = 'fallback';
      this.model = fallback.model;
      return message;
    } catch {
      throw error;
    }
  }
}

const noUpstreamStatus = (): undefined => undefined;

/**
 * A body the upstream sent that cannot be read as a Message is the upstream's failure (retried,
 * counted by the breaker), never the caller's: not JSON (the SDK's `SyntaxError`) or a
 * `content-encoding` that does not decode. Every other error is left as it is.
 */
async function asBodyFault(error: unknown, status: Promise<number | undefined>): Promise<unknown> {
  if (error instanceof SyntaxError) return new MalformedMessageError('not-a-message', await status);
  if (isBodyDecodeFailure(error)) return new MalformedMessageError('undecodable', await status);
  return error;
}

function writeRequestLine(runtime: RouteRuntime, record: RequestLogRecord): void {
  runtime.guard.config.logger?.info(record, 'claude-guard request');
  runtime.guard.events.emit({ type: 'request-end', ...record });
}

function mergeOptions(
  options: ClaudeRequestOptions | undefined,
  signal: AbortSignal,
  timeout: number,
): ClaudeRequestOptions {
  // The guard owns retries and time: the SDK must not retry underneath it.
  const merged: ClaudeRequestOptions = { ...options, signal, timeout, maxRetries: 0 };
  if (options?.signal) merged.signal = AbortSignal.any([signal, options.signal]);
  return merged;
}

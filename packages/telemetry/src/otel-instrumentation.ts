import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  isValidRequestId,
  redactSecrets,
  type GuardEvent,
  type HeaderReader,
  type RequestLogRecord,
} from '@claude-guard/core';
import * as genAi from './gen-ai.js';
import {
  type AttemptAnswer,
  type AttemptFailureInfo,
  type AttemptInfo,
  type AttemptSpan,
  type Instrumentation,
  type RequestSpan,
  type RequestStartInfo,
} from './instrumentation.js';
import { failureReason, ModelLabels, NO_MODEL, OTHER_MODEL } from './labels.js';
import { TELEMETRY_SCOPE, TELEMETRY_VERSION } from './version.js';

/**
 * Options of {@link createOtelInstrumentation}.
 *
 * @example
 * ```ts
 * createOtelInstrumentation({ tracerProvider: provider });
 * ```
 */
export interface OtelInstrumentationOptions {
  /** Default: the provider registered with `@opentelemetry/api` (looked up lazily, so register it before or after). */
  tracerProvider?: TracerProvider;
  /** Strings no attribute may hold, besides anything shaped like an Anthropic key. */
  secrets?: readonly string[];
  /** Milliseconds, for `gen_ai.response.time_to_first_chunk`. Default `performance.now`. */
  now?: () => number;
}

const HEADER_GETTER: TextMapGetter<HeaderReader> = {
  // The W3C propagators only `get`; a HeaderReader cannot list its names.
  keys: () => [],
  get: (carrier, key) => carrier.get(key) ?? undefined,
};

const FINISH_REASON = /^[a-z_]{1,40}$/;
const RESPONSE_ID = /^[A-Za-z0-9._-]{1,128}$/;

const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;

/** What is shared by every span of one instrumentation. */
interface Shared {
  readonly tracer: Tracer;
  readonly models: ModelLabels;
  readonly secrets: readonly string[];
  readonly now: () => number;
  /** Span names by route (`claude-guard {route}`) and by model (`chat {model}`), built once each. */
  readonly requestNames: Map<string, string>;
  readonly attemptNames: Map<string, string>;
}

// Route and model names are few (models are bounded by `ModelLabels`); past this many, names are built per span.
const MAX_CACHED_NAMES = 1000;

function cachedName(cache: Map<string, string>, key: string, build: (key: string) => string): string {
  let name = cache.get(key);
  if (name === undefined) {
    name = build(key);
    if (cache.size < MAX_CACHED_NAMES) cache.set(key, name);
  }
  return name;
}

const requestSpanName = (route: string) => `claude-guard ${route}`;
const attemptSpanName = (model: string) => `${genAi.GEN_AI_OPERATION_CHAT} ${model}`;

/**
 * Traces on OpenTelemetry: a `claude-guard {route}` span per guarded request, joined to the caller's
 * trace (the active span, else the incoming `traceparent`), and a CLIENT span `chat {model}` per
 * upstream attempt on the GenAI conventions, active while the SDK call starts so that the SDK's own
 * `anthropic.messages.create` span nests under it. Never a prompt, a completion or a key.
 *
 * @param options - tracer provider, extra secrets, clock
 * @returns the {@link Instrumentation} to give the guard
 * @example
 * ```ts
 * import { createOtelInstrumentation } from '@claude-guard/telemetry/otel';
 * const guard = createClaudeGuard({ client, instrumentation: createOtelInstrumentation() });
 * ```
 */
export function createOtelInstrumentation(options: OtelInstrumentationOptions = {}): Instrumentation {
  const shared: Shared = {
    tracer: (options.tracerProvider ?? trace.getTracerProvider()).getTracer(TELEMETRY_SCOPE, TELEMETRY_VERSION),
    // Spans may name many models (no time series per model): the bound only stops a flood of made-up names.
    models: new ModelLabels(1000, options.secrets ?? []),
    secrets: options.secrets ?? [],
    now: options.now ?? (() => performance.now()),
    requestNames: new Map(),
    attemptNames: new Map(),
  };
  return {
    startRequest(info: RequestStartInfo): RequestSpan | undefined {
      const active = context.active();
      // Inside an HTTP server span (instrumentation-http) that span is the parent; else the caller's traceparent.
      const parent = trace.getSpanContext(active) ? active : propagation.extract(active, info.headers, HEADER_GETTER);
      const attributes: Attributes = { [genAi.ATTR_ROUTE]: info.route };
      if (isValidRequestId(info.requestId) && redactSecrets(info.requestId, shared.secrets) === info.requestId) {
        attributes[genAi.ATTR_REQUEST_ID] = info.requestId;
      }
      const span = shared.tracer.startSpan(
        cachedName(shared.requestNames, info.route, requestSpanName),
        { kind: SpanKind.INTERNAL, attributes },
        parent,
      );
      // No provider and no caller's trace: nothing to record and nothing to propagate, so no span
      // at all: the guard then builds nothing more for this request.
      if (!span.isRecording() && !trace.isSpanContextValid(span.spanContext())) return undefined;
      return new OtelRequestSpan(shared, span, trace.setSpan(parent, span));
    },
  };
}

class OtelRequestSpan implements RequestSpan {
  readonly #shared: Shared;
  readonly #span: Span;
  readonly #context: Context;
  readonly #open = new Set<OtelAttemptSpan>();
  #current: OtelAttemptSpan | undefined;
  #lastFailure: { kind: string; status: number | undefined; errorType: string | undefined } | undefined;
  #disconnected = false;
  #stallEvents = false;
  #ended = false;

  constructor(shared: Shared, span: Span, spanContext: Context) {
    this.#shared = shared;
    this.#span = span;
    this.#context = spanContext;
  }

  startAttempt(info: AttemptInfo): AttemptSpan {
    const model = this.model(info.model);
    const attributes: Attributes = {
      [genAi.ATTR_GEN_AI_OPERATION_NAME]: genAi.GEN_AI_OPERATION_CHAT,
      [genAi.ATTR_GEN_AI_PROVIDER_NAME]: genAi.GEN_AI_PROVIDER_ANTHROPIC,
      [genAi.ATTR_GEN_AI_REQUEST_STREAM]: info.stream,
    };
    if (model !== undefined) attributes[genAi.ATTR_GEN_AI_REQUEST_MODEL] = model;
    const maxTokens = count(info.maxTokens);
    if (maxTokens !== undefined) attributes[genAi.ATTR_GEN_AI_REQUEST_MAX_TOKENS] = maxTokens;
    if (info.attempt > 0) attributes[genAi.ATTR_HTTP_REQUEST_RESEND_COUNT] = info.attempt;
    const span = this.#shared.tracer.startSpan(
      model === undefined ? genAi.GEN_AI_OPERATION_CHAT : cachedName(this.#shared.attemptNames, model, attemptSpanName),
      { kind: SpanKind.CLIENT, attributes },
      this.#context,
    );
    const attempt = new OtelAttemptSpan(this, span, trace.setSpan(this.#context, span), info.attempt);
    this.#open.add(attempt);
    this.#current = attempt;
    return attempt;
  }

  event(event: GuardEvent): void {
    if (this.#ended) return;
    const type = (event as { type: string }).type;
    const now = this.#shared.now;
    switch (type) {
      case 'stream-stalled': {
        // A newer core tells stalls itself (with the phase); attempt ends then stop adding their own.
        this.#stallEvents = true;
        const { phase, attempt } = event as { phase?: unknown; attempt?: unknown };
        const attributes: Attributes = {};
        if (typeof attempt === 'number') attributes[genAi.ATTR_ATTEMPT] = attempt;
        if (phase === 'first-event' || phase === 'idle') attributes['claude_guard.stream.stall_phase'] = phase;
        this.#span.addEvent(genAi.EVENT_STREAM_STALLED, attributes);
        return;
      }
    }
    switch (event.type) {
      case 'attempt-failed': {
        const errorType = (event as { errorType?: unknown }).errorType;
        this.#lastFailure = {
          kind: event.kind,
          status: event.status,
          errorType: typeof errorType === 'string' ? errorType : undefined,
        };
        return;
      }
      case 'retry': {
        const reported = (event as { reason?: unknown }).reason;
        const failure = this.#lastFailure;
        const reason =
          typeof reported === 'string'
            ? failureReason(reported, undefined)
            : failure
              ? failureReason(failure.kind, failure.status, failure.errorType)
              : 'unknown';
        this.#span.addEvent(genAi.EVENT_RETRY, {
          [genAi.ATTR_ATTEMPT]: event.attempt,
          [genAi.ATTR_RETRY_DELAY_MS]: event.delayMs,
          [genAi.ATTR_RETRY_REASON]: reason,
        });
        return;
      }
      case 'breaker-rejected':
        this.#span.addEvent(genAi.EVENT_BREAKER_REJECTED, { [genAi.ATTR_BREAKER_KEY]: event.key });
        return;
      case 'stream-committed':
        this.#span.addEvent(genAi.EVENT_STREAM_COMMITTED, {
          [genAi.ATTR_COMMITTED_BY]: event.by,
          [genAi.ATTR_ATTEMPT]: event.attempt,
        });
        if (event.by === 'first-event') this.#current?.firstChunk(now());
        return;
      case 'client-aborted': {
        this.#disconnected = true;
        const outputTokens = count(event.outputTokens);
        this.#span.addEvent(
          genAi.EVENT_CLIENT_DISCONNECTED,
          outputTokens === undefined ? {} : { [genAi.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS]: outputTokens },
        );
        return;
      }
      case 'deadline-exceeded':
        this.#span.addEvent(genAi.EVENT_DEADLINE_EXCEEDED, {
          [genAi.ATTR_DEADLINE_SOURCE]: event.source,
          [genAi.ATTR_DEADLINE_BUDGET_MS]: event.budgetMs,
        });
        return;
      case 'retry-budget-rejected':
        this.#span.addEvent(genAi.EVENT_RETRY_BUDGET_REJECTED);
        return;
      case 'give-up':
        this.#span.addEvent(genAi.EVENT_GIVE_UP, {
          [genAi.ATTR_GIVE_UP_REASON]: event.reason,
          [genAi.ATTR_ATTEMPTS]: event.attempts,
        });
        return;
      default:
        return;
    }
  }

  end(record: RequestLogRecord): void {
    if (this.#ended) return;
    this.#ended = true;
    // An attempt the core never ended (it should) must not leak an open span.
    if (this.#open.size > 0) for (const attempt of [...this.#open]) attempt.end();
    const span = this.#span;
    const attributes: Attributes = {
      [genAi.ATTR_OUTCOME]: record.outcome,
      [genAi.ATTR_ATTEMPTS]: record.attempts,
      [genAi.ATTR_STREAM]: record.stream,
      [genAi.ATTR_HTTP_RESPONSE_STATUS_CODE]: record.status,
    };
    const model = this.model(record.model);
    if (model !== undefined) attributes[genAi.ATTR_GEN_AI_REQUEST_MODEL] = model;
    span.setAttributes(attributes);
    if (record.status === 499 && !this.#disconnected) span.addEvent(genAi.EVENT_CLIENT_DISCONNECTED);
    // Only the guard's own failures are errors of this span: a 4xx is the caller's, a 499 a cancellation.
    if (record.status >= 500) {
      span.setAttribute(genAi.ATTR_ERROR_TYPE, record.outcome);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }

  /** @internal */
  attemptEnded(attempt: OtelAttemptSpan, failure: AttemptFailureInfo | undefined): void {
    this.#open.delete(attempt);
    if (this.#current === attempt) this.#current = undefined;
    if (failure === undefined) return;
    this.#lastFailure = { kind: failure.kind, status: failure.status, errorType: failure.errorType };
    if (failure.kind === 'stream-stalled' && !this.#stallEvents && !this.#ended) {
      this.#span.addEvent(genAi.EVENT_STREAM_STALLED, { [genAi.ATTR_ATTEMPT]: attempt.attempt });
    }
  }

  /** @internal */
  get now(): () => number {
    return this.#shared.now;
  }

  /** @internal A model name fit for an attribute, or `undefined`. */
  model(model: string | undefined): string | undefined {
    const label = this.#shared.models.label(model);
    return label === NO_MODEL || label === OTHER_MODEL ? undefined : label;
  }

  /** @internal */
  safe(text: string): boolean {
    return redactSecrets(text, this.#shared.secrets) === text;
  }
}

class OtelAttemptSpan implements AttemptSpan {
  readonly #request: OtelRequestSpan;
  readonly #span: Span;
  readonly #context: Context;
  readonly #startedAt: number;
  readonly attempt: number;
  readonly #usage: Record<'input' | 'output' | 'cacheRead' | 'cacheCreation', number | undefined> = {
    input: undefined,
    output: undefined,
    cacheRead: undefined,
    cacheCreation: undefined,
  };
  #ended = false;

  constructor(request: OtelRequestSpan, span: Span, spanContext: Context, attempt: number) {
    this.#request = request;
    this.#span = span;
    this.#context = spanContext;
    this.attempt = attempt;
    this.#startedAt = request.now();
  }

  run<T>(fn: () => T): T {
    return context.with(this.#context, fn);
  }

  answer(answer: AttemptAnswer): void {
    if (this.#ended) return;
    const span = this.#span;
    const status = count(answer.status);
    if (status !== undefined) span.setAttribute(genAi.ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    const { responseId, responseModel, stopReason } = answer;
    if (typeof responseId === 'string' && RESPONSE_ID.test(responseId) && this.#request.safe(responseId)) {
      span.setAttribute(genAi.ATTR_GEN_AI_RESPONSE_ID, responseId);
    }
    const model = this.#request.model(responseModel);
    if (model !== undefined) span.setAttribute(genAi.ATTR_GEN_AI_RESPONSE_MODEL, model);
    if (typeof stopReason === 'string' && FINISH_REASON.test(stopReason)) {
      span.setAttribute(genAi.ATTR_GEN_AI_RESPONSE_FINISH_REASONS, [stopReason]);
    }
    if (typeof answer.usage === 'object' && answer.usage !== null)
      this.#recordUsage(answer.usage as Record<string, unknown>);
  }

  /** The first event of a stream arrived (the commit by first event). */
  firstChunk(at: number): void {
    if (this.#ended) return;
    this.#span.setAttribute(genAi.ATTR_GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, Math.max(0, at - this.#startedAt) / 1000);
  }

  end(failure?: AttemptFailureInfo): void {
    if (this.#ended) return;
    this.#ended = true;
    // The client leaving is a cancellation, not a failure of the attempt.
    if (failure !== undefined && failure.kind !== 'client-abort') {
      this.#span.setAttribute(genAi.ATTR_ERROR_TYPE, failureReason(failure.kind, failure.status, failure.errorType));
      this.#span.setStatus({ code: SpanStatusCode.ERROR });
    }
    this.#span.end();
    this.#request.attemptEnded(this, failure);
  }

  // Anthropic's counts are cumulative: each report replaces the one held. The conventions count
  // cached tokens in `gen_ai.usage.input_tokens`; Anthropic's `input_tokens` does not: they are added.
  #recordUsage(usage: Record<string, unknown>): void {
    const held = this.#usage;
    held.input = count(usage['input_tokens']) ?? held.input;
    held.output = count(usage['output_tokens']) ?? held.output;
    held.cacheRead = count(usage['cache_read_input_tokens']) ?? held.cacheRead;
    held.cacheCreation = count(usage['cache_creation_input_tokens']) ?? held.cacheCreation;
    const attributes: Attributes = {};
    if (held.input !== undefined) {
      attributes[genAi.ATTR_GEN_AI_USAGE_INPUT_TOKENS] = held.input + (held.cacheRead ?? 0) + (held.cacheCreation ?? 0);
    }
    if (held.output !== undefined) attributes[genAi.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS] = held.output;
    if (held.cacheRead !== undefined) attributes[genAi.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = held.cacheRead;
    if (held.cacheCreation !== undefined) {
      attributes[genAi.ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = held.cacheCreation;
    }
    this.#span.setAttributes(attributes);
  }
}

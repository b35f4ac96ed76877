import type { GuardEvent, HeaderReader, RequestLogRecord } from '@claude-guard/core';

/**
 * The seam the guard calls for traces: one {@link RequestSpan} per guarded request, one
 * {@link AttemptSpan} per upstream attempt. `@claude-guard/telemetry/otel` implements it on
 * OpenTelemetry; {@link NOOP_INSTRUMENTATION} does nothing. The guard's core calls it; nothing in
 * this package reaches into the core.
 *
 * @example
 * ```ts
 * import { createOtelInstrumentation } from '@claude-guard/telemetry/otel';
 * const instrumentation: Instrumentation = createOtelInstrumentation();
 * ```
 */
export interface Instrumentation {
  /** At the start of a guarded request, once its id is known; before its first attempt. */
  startRequest(info: RequestStartInfo): RequestSpan;
}

/**
 * What a request's span starts with.
 *
 * @example
 * ```ts
 * instrumentation.startRequest({ route: 'chat', requestId, headers: request.headers });
 * ```
 */
export interface RequestStartInfo {
  route: string;
  requestId: string;
  /** The incoming headers: the caller's trace context (`traceparent`, `tracestate`) is read from them. */
  headers: HeaderReader;
}

/**
 * One guarded request's span.
 *
 * @example
 * ```ts
 * const span = instrumentation.startRequest(info);
 * span.event({ type: 'retry', route, requestId, attempt: 1, delayMs: 500 });
 * span.end(record);
 * ```
 */
export interface RequestSpan {
  /** Before each upstream attempt the breaker let through; the attempt span must be ended. */
  startAttempt(info: AttemptInfo): AttemptSpan;
  /** Each of this request's guard events, as it is emitted (they become span events). */
  event(event: GuardEvent): void;
  /** Once, with the request's record, when the request is over (stream included). Idempotent. */
  end(record: RequestLogRecord): void;
}

/**
 * What an attempt's span starts with: the request's parameters, never its content.
 *
 * @example
 * ```ts
 * span.startAttempt({ attempt: 0, model: params.model, maxTokens: params.max_tokens, stream: true });
 * ```
 */
export interface AttemptInfo {
  /** 0 for the first attempt. */
  attempt: number;
  model: string | undefined;
  maxTokens: number | undefined;
  stream: boolean;
}

/**
 * Facts of the upstream's answer, as they arrive; each call may carry any of them, the last wins.
 *
 * @example
 * ```ts
 * attempt.answer({ responseId: message.id, responseModel: message.model, stopReason: message.stop_reason, usage: message.usage });
 * ```
 */
export interface AttemptAnswer {
  /** The upstream's HTTP status. */
  status?: number | undefined;
  responseId?: string | undefined;
  responseModel?: string | undefined;
  stopReason?: string | null | undefined;
  /** Anthropic's `usage` object (a Message's, `message_start`'s or `message_delta`'s). */
  usage?: unknown;
}

/**
 * Why an attempt failed, as the guard classified it.
 *
 * @example
 * ```ts
 * attempt.end({ kind: 'http', errorType: 'overloaded_error', status: 529 });
 * ```
 */
export interface AttemptFailureInfo {
  /** The failure's kind: `http`, `in-band`, `connection`, `attempt-timeout`, `stream-stalled`, ... */
  kind: string;
  /** Its Anthropic error type. */
  errorType: string;
  status: number | undefined;
}

/**
 * One upstream attempt's span.
 *
 * @example
 * ```ts
 * const attempt = requestSpan.startAttempt(info);
 * const pending = attempt.run(() => client.messages.create(params, options)); // the SDK's span nests here
 * ```
 */
export interface AttemptSpan {
  /** Runs `fn` with this attempt's span active; the SDK call must start inside it (synchronously). */
  run<T>(fn: () => T): T;
  answer(answer: AttemptAnswer): void;
  /** Once, when the attempt is over (a stream: when its body ends); with `failure` when it failed. Idempotent. */
  end(failure?: AttemptFailureInfo): void;
}

const NOOP_ATTEMPT: AttemptSpan = {
  run: (fn) => fn(),
  answer: () => {},
  end: () => {},
};

/**
 * A request span that records nothing.
 *
 * @example
 * ```ts
 * const span = NOOP_REQUEST_SPAN.startAttempt(info); // NOOP too
 * ```
 */
export const NOOP_REQUEST_SPAN: RequestSpan = {
  startAttempt: () => NOOP_ATTEMPT,
  event: () => {},
  end: () => {},
};

/**
 * Instrumentation that records nothing and costs a function call.
 *
 * @example
 * ```ts
 * const instrumentation = process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? createOtelInstrumentation() : NOOP_INSTRUMENTATION;
 * ```
 */
export const NOOP_INSTRUMENTATION: Instrumentation = { startRequest: () => NOOP_REQUEST_SPAN };

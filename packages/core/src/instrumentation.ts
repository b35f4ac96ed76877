import type { GuardEvent } from './events.js';
import type { RequestLogRecord } from './logger.js';

/**
 * The seam the guard calls for traces (its `instrumentation` option): one {@link RequestSpan} per
 * guarded request, one {@link AttemptSpan} per upstream attempt. `@claude-guard/telemetry/otel`
 * implements it on OpenTelemetry (`createOtelInstrumentation()`); the core itself knows nothing of
 * OpenTelemetry. Without the option the guard calls nothing and builds nothing for it. What an
 * implementation throws is swallowed: observing never changes an answer.
 *
 * @example
 * ```ts
 * import { createOtelInstrumentation } from '@claude-guard/telemetry/otel';
 * const guard = createClaudeGuard({ client, instrumentation: createOtelInstrumentation() });
 * ```
 */
export interface Instrumentation {
  /**
   * At the start of a guarded request, once its id is known; before its first attempt. `undefined`:
   * this request is not traced (no provider, not sampled), and the guard builds nothing more for it.
   */
  startRequest(info: RequestStartInfo): RequestSpan | undefined;
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
  /**
   * The incoming headers (a `HeaderReader`: a `Headers`, or an adapter's view of Node's): the
   * caller's trace context (`traceparent`, `tracestate`) is read from them. Spelled out here so that
   * this seam imports nothing of the request path.
   */
  headers: { get(name: string): string | null | undefined };
}

/**
 * One guarded request's span.
 *
 * @example
 * ```ts
 * const span = instrumentation.startRequest(info);
 * span.event({ type: 'retry', route, requestId, attempt: 1, delayMs: 500, reason: 'overloaded_error' });
 * span.end(record);
 * ```
 */
export interface RequestSpan {
  /** Before each upstream attempt the breaker let through (and the fallback's); the attempt span must be ended. */
  startAttempt(info: AttemptInfo): AttemptSpan;
  /** Each of this request's guard events, as it is emitted (they become span events). */
  event(event: GuardEvent): void;
  /** Once, with the request's log line, when the request is over (stream included). */
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
  /** The model asked for; `undefined` for a caller's own function (`guard.run`). */
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
  /** Anthropic's `usage` object (a Message's, `message_start`'s or `message_delta`'s): counts only. */
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
  /** The failure's kind: `http`, `in-band`, `connection`, `attempt-timeout`, `stream-stalled`, `client-abort`, ... */
  kind: string;
  /** Its Anthropic error type (`overloaded_error`, `api_error`, ...). */
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
 * attempt.end();
 * ```
 */
export interface AttemptSpan {
  /** Runs `fn` with this attempt's span active and returns what it returns; the SDK call starts inside it. */
  run<T>(fn: () => T): T;
  answer(answer: AttemptAnswer): void;
  /** Once, when the attempt is over (a stream: when its body ends); with `failure` when it failed. */
  end(failure?: AttemptFailureInfo): void;
}

/**
 * @internal An instrumentation's attempt span behind a guard that swallows what it throws, so a
 * broken implementation never reaches a request. Built only when the guard has instrumentation.
 */
export class GuardedAttemptSpan implements AttemptSpan {
  readonly #span: AttemptSpan;
  #ended = false;

  constructor(span: AttemptSpan) {
    this.#span = span;
  }

  run<T>(fn: () => T): T {
    // What `fn` did, told apart from what the instrumentation did around it.
    let outcome = 'not-run' as 'not-run' | 'returned' | 'threw';
    let value: T | undefined;
    let thrown: unknown;
    const inner = (): T => {
      try {
        value = fn();
        outcome = 'returned';
        return value;
      } catch (error) {
        outcome = 'threw';
        thrown = error;
        throw error;
      }
    };
    try {
      this.#span.run(inner);
    } catch {
      // The instrumentation's own throw is dropped; `fn`'s is rethrown below.
    }
    if (outcome === 'not-run') return fn();
    if (outcome === 'threw') throw thrown;
    return value as T;
  }

  answer(answer: AttemptAnswer): void {
    if (this.#ended) return;
    try {
      this.#span.answer(answer);
    } catch {
      // Observing never changes an answer.
    }
  }

  end(failure?: AttemptFailureInfo): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#span.end(failure);
    } catch {
      // Observing never changes an answer.
    }
  }
}

/**
 * @internal Starts a request's span; an instrumentation that throws gives the request none.
 */
export function startRequestSpan(instrumentation: Instrumentation, info: RequestStartInfo): RequestSpan | undefined {
  try {
    return instrumentation.startRequest(info);
  } catch {
    return undefined;
  }
}

import type { AnthropicErrorType } from './anthropic-error-types.js';
import type { AttemptFailure, FailureKind } from './classify.js';
import type { Deadline } from './deadline.js';
import { redactSecrets } from './error-body.js';
import type { GuardEvent } from './events.js';
import { GuardedAttemptSpan, type AttemptSpan, type RequestSpan } from './instrumentation.js';
import type { LogLevel, LogWriter, RequestLogRecord } from './logger.js';

/**
 * Token counts of one request, as the upstream reported them (`usage`); `undefined` until seen.
 *
 * @example
 * ```ts
 * const usage: RequestUsage = { inputTokens: 11, outputTokens: 6, cacheReadInputTokens: 0, cacheCreationInputTokens: 0 };
 * ```
 */
export interface RequestUsage {
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  cacheReadInputTokens: number | undefined;
  cacheCreationInputTokens: number | undefined;
}

/**
 * When things happened, in the clock's milliseconds; `undefined` for what never happened.
 *
 * @example
 * ```ts
 * const ttfb = timings.firstUpstreamByteAt === undefined ? undefined : timings.firstUpstreamByteAt - timings.startedAt;
 * ```
 */
export interface RequestTimings {
  startedAt: number;
  /** The first upstream response (headers) of any attempt. */
  firstUpstreamByteAt: number | undefined;
  /** A stream's commit (its 200 went out). */
  committedAt: number | undefined;
  /** A stream's first upstream data event (of the attempt that answered). */
  firstEventAt: number | undefined;
  endedAt: number | undefined;
}

/**
 * The failure that ended a request, classified; the upstream's message is already redacted.
 *
 * @example
 * ```ts
 * if (record.failure?.type === 'overloaded_error') alert();
 * ```
 */
export interface RecordedFailure {
  kind: FailureKind;
  type: AnthropicErrorType;
  /** The upstream's HTTP status, when it answered with one. */
  status: number | undefined;
  /** The upstream's message, redacted (`redactSecrets`), when it sent one. */
  upstreamMessage: string | undefined;
  /** `error.details.error_code` of the upstream's error, when present and well-formed. */
  errorCode: string | undefined;
}

/** Where a record's events go: anything with `active` and `emit` (the guard's event hub). */
export interface RecordEvents {
  readonly active: boolean;
  emit(event: GuardEvent): void;
}

/**
 * What every record of one route shares, built once per route: its name, time, and where the one
 * line goes.
 *
 * @example
 * ```ts
 * const sink: RecordSink = { route: 'chat', sdkVersion, now: clock.now, log: new LogWriter(console, 'auto'), events, secrets: [] };
 * ```
 */
export interface RecordSink {
  readonly route: string;
  readonly sdkVersion: string;
  readonly now: () => number;
  /** Where the line goes, at its level; `undefined`: the guard has no logger. */
  readonly log: LogWriter | undefined;
  readonly events: RecordEvents;
  /** Redacted from an upstream message before it is kept. */
  readonly secrets: readonly string[];
}

/** How a stream committed: its first data event, or a heartbeat while attempts went on. */
export type CommitCause = 'first-event' | 'heartbeat';

interface UsageLike {
  input_tokens?: unknown;
  output_tokens?: unknown;
  cache_read_input_tokens?: unknown;
  cache_creation_input_tokens?: unknown;
}

// Failures that are the upstream's or the deadline's, and the breaker's refusals: worth a warning.
const WARN_OUTCOMES: ReadonlySet<string> = new Set([
  'deadline-exceeded',
  'upstream-error',
  'upstream-unreachable',
  'attempt-timeout',
  'stream-stalled',
  'breaker-open',
  'retry-budget-exhausted',
  // Shed by admission control: load or the API's limits, worth watching.
  'queue-full',
  'queue-timeout',
  'rate-limited',
  'spend-limit',
  // Answered, but only because the upstream failed.
  'fallback',
]);

/**
 * A line's level: `error` for an internal error; `warn` for upstream failures, breaker refusals,
 * deadline expiries, fallbacks and a 4xx the upstream gave (a field the API refused); `info` for
 * successes, a client that left, and a request the guard refused itself (a malformed body or
 * deadline header: the client's business, not the service's).
 */
function levelOf(outcome: string, status: number, upstreamFailed: boolean): LogLevel {
  if (outcome === 'internal-error') return 'error';
  if (WARN_OUTCOMES.has(outcome)) return 'warn';
  if (outcome === 'bad-request') return upstreamFailed ? 'warn' : 'info';
  if (outcome === 'ok' || outcome === 'client-aborted') return 'info';
  // Any other end (a handler's own error answer): by its status.
  return status >= 500 ? 'warn' : 'info';
}

const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;

/**
 * The facts of one guarded request, and their only writer: attempts, upstream request id, model,
 * usage, outcome, status, timings and the failure that ended it. The retry policy, the message
 * call, the fallback and streams report into it; nothing else holds these facts. It writes the
 * request's one log line and emits `request-end` exactly once, when the response has ended and no
 * stream is still open, and it emits the request's own lifecycle events (`stream-committed`,
 * `client-aborted`). This is the seam telemetry attaches to.
 *
 * When it ends it also releases the request's deadline (its timer and its listener on the client's
 * signal), and a client that had gone away by then turns the status into 499.
 *
 * @example
 * ```ts
 * const record = new RequestRecord(route.records, requestId, deadline);
 * record.attemptStarted();
 * record.upstreamAnswered('req_011');
 * record.end(200); // the log line, now or when the last stream closes
 * ```
 */
export class RequestRecord {
  readonly requestId: string;
  readonly #sink: RecordSink;
  readonly #deadline: Deadline | undefined;
  readonly #startedAt: number;
  #firstUpstreamByteAt: number | undefined;
  #committedAt: number | undefined;
  #firstEventAt: number | undefined;
  #endedAt: number | undefined;
  #attempts = 0;
  #upstreamRequestId: string | undefined;
  #model: string | undefined;
  #maxTokens: number | undefined;
  #stream = false;
  #inputTokens: number | undefined;
  #outputTokens: number | undefined;
  #cacheReadInputTokens: number | undefined;
  #cacheCreationInputTokens: number | undefined;
  #outcome: string | undefined;
  #failure: RecordedFailure | undefined;
  /** The status the response ended with, as reported; the written one may be 499 instead. */
  #endStatus: number | undefined;
  #status: number | undefined;
  #openStreams = 0;
  #ended = false;
  /** The request's span: only with the guard's `instrumentation`. */
  readonly #span: RequestSpan | undefined;
  /** The span of the attempt under way, or of the last one. */
  #attemptSpan: AttemptSpan | undefined;

  /**
   * @param sink - The route's shared part: its name, clock, logger and events.
   * @param requestId - The request's correlation id.
   * @param deadline - The request's deadline, released when the record ends; none for a request
   *   answered before it had one (a malformed deadline header).
   * @param span - The request's span, when the guard has `instrumentation`: every event of the
   *   request goes to it, and it ends with the record.
   */
  constructor(sink: RecordSink, requestId: string, deadline: Deadline | undefined, span?: RequestSpan) {
    this.#sink = sink;
    this.requestId = requestId;
    this.#deadline = deadline;
    this.#startedAt = sink.now();
    this.#span = span;
    if (sink.events.active || span !== undefined) {
      this.emit({ type: 'request-start', route: sink.route, requestId });
    }
  }

  /** Whether anyone hears this request's events (listeners, or its span): build them only then. */
  get observed(): boolean {
    return this.#span !== undefined || this.#sink.events.active;
  }

  /** One of this request's events, to its span and to the guard's listeners. */
  emit(event: GuardEvent): void {
    const span = this.#span;
    if (span !== undefined) {
      try {
        span.event(event);
      } catch {
        // Observing never changes an answer.
      }
    }
    const events = this.#sink.events;
    if (events.active) events.emit(event);
  }

  /**
   * Starts the span of upstream attempt `attempt` (0 for the first) of `model` (the model asked
   * for unless given), or `undefined` without instrumentation: nothing is built then.
   */
  startAttemptSpan(attempt: number, model: string | undefined = this.#model): AttemptSpan | undefined {
    const span = this.#span;
    if (span === undefined) return undefined;
    try {
      const started = span.startAttempt({ attempt, model, maxTokens: this.#maxTokens, stream: this.#stream });
      return (this.#attemptSpan = new GuardedAttemptSpan(started));
    } catch {
      return undefined;
    }
  }

  /** The span of the attempt under way (or the last one made); `undefined` without instrumentation. */
  get attemptSpan(): AttemptSpan | undefined {
    return this.#attemptSpan;
  }

  /** A Message answered the attempt under way: its id, model, stop reason and usage go to its span. */
  messageAnswered(message: { id?: unknown; model?: unknown; stop_reason?: unknown; usage?: unknown }): void {
    const span = this.#attemptSpan;
    if (span === undefined) return;
    span.answer({
      responseId: typeof message.id === 'string' ? message.id : undefined,
      responseModel: typeof message.model === 'string' ? message.model : undefined,
      stopReason: typeof message.stop_reason === 'string' ? message.stop_reason : undefined,
      usage: message.usage,
    });
  }

  get route(): string {
    return this.#sink.route;
  }

  /** Upstream attempts made (a breaker's refusal is not one). */
  get attempts(): number {
    return this.#attempts;
  }

  get upstreamRequestId(): string | undefined {
    return this.#upstreamRequestId;
  }

  get model(): string | undefined {
    return this.#model;
  }

  get stream(): boolean {
    return this.#stream;
  }

  /** How the request ended; `undefined` until something decided it. */
  get outcome(): string | undefined {
    return this.#outcome;
  }

  get failure(): RecordedFailure | undefined {
    return this.#failure;
  }

  /** The status the client got (499 when it left); `undefined` until the record has ended. */
  get status(): number | undefined {
    return this.#status;
  }

  /** Whether the line has been written. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Milliseconds from start to end (or to now, while running). */
  get durationMs(): number {
    return (this.#endedAt ?? this.#sink.now()) - this.#startedAt;
  }

  /** A fresh copy of the token counts. */
  get usage(): RequestUsage {
    return {
      inputTokens: this.#inputTokens,
      outputTokens: this.#outputTokens,
      cacheReadInputTokens: this.#cacheReadInputTokens,
      cacheCreationInputTokens: this.#cacheCreationInputTokens,
    };
  }

  /** A fresh copy of the timings. */
  get timings(): RequestTimings {
    return {
      startedAt: this.#startedAt,
      firstUpstreamByteAt: this.#firstUpstreamByteAt,
      committedAt: this.#committedAt,
      firstEventAt: this.#firstEventAt,
      endedAt: this.#endedAt,
    };
  }

  /** An upstream attempt starts (the breaker, if any, let it through). */
  attemptStarted(): void {
    this.#attempts += 1;
  }

  /**
   * An attempt got its response headers; `upstreamRequestId` already validated (an absent one keeps
   * the known id); `status`, when given, goes to the attempt's span.
   */
  upstreamAnswered(upstreamRequestId: string | undefined, status?: number): void {
    this.#firstUpstreamByteAt ??= this.#sink.now();
    if (upstreamRequestId) this.#upstreamRequestId = upstreamRequestId;
    if (status !== undefined) this.#attemptSpan?.answer({ status });
  }

  /** A stream's first upstream data event arrived (the attempt's that answers). */
  firstEvent(): void {
    this.#firstEventAt ??= this.#sink.now();
  }

  /** An upstream stream stalled during attempt `attempt`: no first event in time, or silent too long after it. */
  streamStalled(attempt: number, phase: 'first-event' | 'idle', timeoutMs: number): void {
    if (!this.observed) return;
    this.emit({
      type: 'stream-stalled',
      route: this.#sink.route,
      requestId: this.requestId,
      attempt,
      phase,
      timeoutMs,
    });
  }

  /** A failure named the upstream's id (from its error's headers), already validated; an absent one changes nothing. */
  upstreamIdentified(upstreamRequestId: string | undefined): void {
    if (upstreamRequestId) this.#upstreamRequestId = upstreamRequestId;
  }

  /** The answer the request got came with this id (validated): it replaces any earlier one, even when absent. */
  answeredWith(upstreamRequestId: string | undefined): void {
    this.#upstreamRequestId = upstreamRequestId;
  }

  /** A Claude call (`messages.create` or a stream) for `model` starts under this request. */
  called(model: string, stream: boolean, maxTokens?: number): void {
    this.#model = model;
    this.#maxTokens = maxTokens;
    if (stream) this.#stream = true;
  }

  /** The model that answered, when another than asked (a fallback). */
  answeredBy(model: string): void {
    this.#model = model;
  }

  /**
   * Takes an upstream `usage` object (a Message's, `message_start`'s or `message_delta`'s): each
   * count it carries replaces the one held, so the last report wins, as Anthropic's are cumulative.
   * Only non-negative integers are counts; anything else is ignored.
   */
  recordUsage(usage: unknown): void {
    if (typeof usage !== 'object' || usage === null) return;
    const reported = usage as UsageLike;
    this.#inputTokens = count(reported.input_tokens) ?? this.#inputTokens;
    this.#outputTokens = count(reported.output_tokens) ?? this.#outputTokens;
    this.#cacheReadInputTokens = count(reported.cache_read_input_tokens) ?? this.#cacheReadInputTokens;
    this.#cacheCreationInputTokens = count(reported.cache_creation_input_tokens) ?? this.#cacheCreationInputTokens;
  }

  /** A stream committed (its 200 goes out), during attempt `attempt` (0 for the first). */
  committed(by: CommitCause, attempt: number): void {
    this.#committedAt ??= this.#sink.now();
    if (this.observed) {
      this.emit({ type: 'stream-committed', route: this.#sink.route, requestId: this.requestId, attempt, by });
    }
  }

  /** The client went away from a running stream: the outcome, and the `client-aborted` event. */
  clientAborted(): void {
    this.setOutcome('client-aborted');
    if (this.observed) {
      const route = this.#sink.route;
      this.emit({ type: 'client-aborted', route, requestId: this.requestId, outputTokens: this.#outputTokens });
    }
  }

  /** Sets how the request ended; the last word wins until the record is written. */
  setOutcome(outcome: string): void {
    if (!this.#ended) this.#outcome = outcome;
  }

  /** Sets how the request ended unless something already did. */
  defaultOutcome(outcome: string): void {
    if (!this.#ended) this.#outcome ??= outcome;
  }

  /** Records the failure that ended the request (the last one reported wins), its upstream message redacted. */
  failed(failure: AttemptFailure): void {
    if (this.#ended) return;
    this.#failure = {
      kind: failure.kind,
      type: failure.type,
      status: failure.status,
      upstreamMessage:
        failure.upstreamMessage === undefined ? undefined : redactSecrets(failure.upstreamMessage, this.#sink.secrets),
      errorCode: failure.errorCode,
    };
  }

  /** A stream is running: the line waits for it until {@link RequestRecord.streamClosed}. */
  streamOpened(): void {
    this.#openStreams += 1;
    this.#stream = true;
  }

  /** A stream opened with {@link RequestRecord.streamOpened} is over (each stream closes once). */
  streamClosed(): void {
    this.#openStreams -= 1;
    this.#maybeEnd();
  }

  /**
   * The response is over with `status`. Idempotent: the first status wins. The line is written
   * now, or when the last open stream closes; a client gone by then makes it 499.
   */
  end(status: number): void {
    if (this.#endStatus !== undefined) return;
    this.#endStatus = status;
    this.#maybeEnd();
  }

  #maybeEnd(): void {
    if (this.#ended || this.#endStatus === undefined || this.#openStreams > 0) return;
    this.#ended = true;
    this.#endedAt = this.#sink.now();
    const deadline = this.#deadline;
    deadline?.dispose();
    const clientGone = deadline?.clientAborted ?? false;
    // 499 (nginx's "client closed request") whatever status had been committed before it left.
    const status = clientGone ? 499 : this.#endStatus;
    this.#status = status;
    this.#outcome ??= clientGone ? 'client-aborted' : status < 400 ? 'ok' : 'error';
    const { log, events } = this.#sink;
    const span = this.#span;
    if (!log && !events.active && span === undefined) return;
    const line = this.#line(status, this.#outcome);
    log?.write(levelOf(line.outcome, status, this.#failure !== undefined), line, 'claude-guard request');
    if (events.active) events.emit({ type: 'request-end', ...line });
    if (span !== undefined) {
      try {
        span.end(line);
      } catch {
        // Observing never changes an answer.
      }
    }
  }

  #line(status: number, outcome: string): RequestLogRecord {
    const started = this.#startedAt;
    return {
      route: this.#sink.route,
      requestId: this.requestId,
      upstreamRequestId: this.#upstreamRequestId,
      status,
      outcome,
      attempts: this.#attempts,
      durationMs: (this.#endedAt ?? started) - started,
      model: this.#model,
      stream: this.#stream,
      outputTokens: this.#outputTokens,
      inputTokens: this.#inputTokens,
      cacheReadInputTokens: this.#cacheReadInputTokens,
      cacheCreationInputTokens: this.#cacheCreationInputTokens,
      firstByteMs: this.#firstUpstreamByteAt === undefined ? undefined : this.#firstUpstreamByteAt - started,
      commitMs: this.#committedAt === undefined ? undefined : this.#committedAt - started,
      firstEventMs: this.#firstEventAt === undefined ? undefined : this.#firstEventAt - started,
      sdkVersion: this.#sink.sdkVersion,
      upstreamMessage: this.#failure?.upstreamMessage,
      errorCode: this.#failure?.errorCode,
    };
  }
}

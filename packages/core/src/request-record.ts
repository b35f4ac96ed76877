import type { AnthropicErrorType } from './anthropic-error-types.js';

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
  kind: string;
  type: AnthropicErrorType;
  /** The upstream's HTTP status, when it answered with one. */
  status: number | undefined;
  /** Redacted upstream message, when the upstream sent one. */
  upstreamMessage: string | undefined;
  /** `error.details.error_code` of the upstream's body, when present. */
  errorCode: string | undefined;
}

/** What a record needs from its guard: time, and where its one line goes. */
export interface RequestRecordInit {
  route: string;
  requestId: string;
  sdkVersion: string;
  now: () => number;
  /** Called once, when the request is over (response ended and every stream closed). */
  onEnd: (record: RequestRecord) => void;
}

interface UsageLike {
  input_tokens?: unknown;
  output_tokens?: unknown;
  cache_read_input_tokens?: unknown;
  cache_creation_input_tokens?: unknown;
}

const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;

/**
 * The facts of one guarded request, and their only writer: attempts, upstream request id, model,
 * usage, outcome, status, timings and the failure that ended it. Policies and streams report into
 * it; it calls `onEnd` exactly once, when the response has ended and no stream is still open. This
 * is the seam telemetry attaches to.
 *
 * @example
 * ```ts
 * const record = new RequestRecord({ route: 'chat', requestId, sdkVersion, now: clock.now, onEnd: writeLine });
 * record.attemptStarted();
 * record.upstreamAnswered('req_011');
 * record.end(200);
 * ```
 */
export class RequestRecord {
  readonly route: string;
  readonly requestId: string;
  readonly sdkVersion: string;
  readonly timings: RequestTimings;
  readonly usage: RequestUsage = {
    inputTokens: undefined,
    outputTokens: undefined,
    cacheReadInputTokens: undefined,
    cacheCreationInputTokens: undefined,
  };
  #attempts = 0;
  #upstreamRequestId: string | undefined;
  #model: string | undefined;
  #stream = false;
  #outcome: string | undefined;
  #failure: RecordedFailure | undefined;
  #status: number | undefined;
  #openStreams = 0;
  #ended = false;
  readonly #now: () => number;
  readonly #onEnd: (record: RequestRecord) => void;

  constructor(init: RequestRecordInit) {
    this.route = init.route;
    this.requestId = init.requestId;
    this.sdkVersion = init.sdkVersion;
    this.#now = init.now;
    this.#onEnd = init.onEnd;
    this.timings = {
      startedAt: init.now(),
      firstUpstreamByteAt: undefined,
      committedAt: undefined,
      endedAt: undefined,
    };
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

  /** The status the client got (499 when it left); `undefined` until the end. */
  get status(): number | undefined {
    return this.#status;
  }

  /** Whether the line has been written. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Milliseconds from start to end (or to now, while running). */
  get durationMs(): number {
    return (this.timings.endedAt ?? this.#now()) - this.timings.startedAt;
  }

  attemptStarted(): void {
    this.#attempts += 1;
  }

  /** The breaker refused the attempt just counted: no upstream call was made. */
  attemptRefused(): void {
    if (this.#attempts > 0) this.#attempts -= 1;
  }

  /** An attempt got its response headers; `upstreamRequestId` must already be validated. */
  upstreamAnswered(upstreamRequestId: string | undefined): void {
    this.timings.firstUpstreamByteAt ??= this.#now();
    if (upstreamRequestId) this.#upstreamRequestId = upstreamRequestId;
  }

  /** A failure reported the upstream's id (from its error body or headers), already validated. */
  upstreamIdentified(upstreamRequestId: string | undefined): void {
    if (upstreamRequestId) this.#upstreamRequestId = upstreamRequestId;
  }

  call(model: string, stream: boolean): void {
    this.#model = model;
    if (stream) this.#stream = true;
  }

  /** The model that answered, when another than asked (a fallback). */
  answeredBy(model: string): void {
    this.#model = model;
  }

  /**
   * Takes an upstream `usage` object (a Message's, `message_start`'s or `message_delta`'s): each
   * count it carries replaces the one held, so the last report wins, as Anthropic's are cumulative.
   */
  recordUsage(usage: unknown): void {
    if (typeof usage !== 'object' || usage === null) return;
    const reported = usage as UsageLike;
    const held = this.usage;
    held.inputTokens = count(reported.input_tokens) ?? held.inputTokens;
    held.outputTokens = count(reported.output_tokens) ?? held.outputTokens;
    held.cacheReadInputTokens = count(reported.cache_read_input_tokens) ?? held.cacheReadInputTokens;
    held.cacheCreationInputTokens = count(reported.cache_creation_input_tokens) ?? held.cacheCreationInputTokens;
  }

  committed(): void {
    this.timings.committedAt ??= this.#now();
  }

  /** Sets how the request ended; the last word wins until the record is written. */
  setOutcome(outcome: string): void {
    if (!this.#ended) this.#outcome = outcome;
  }

  /** Sets how the request ended unless something already did. */
  defaultOutcome(outcome: string): void {
    if (!this.#ended) this.#outcome ??= outcome;
  }

  /** Records the failure that ended the request (the last one reported wins). */
  failed(failure: RecordedFailure): void {
    if (!this.#ended) this.#failure = failure;
  }

  /** A stream is running: the line waits for it. Returns the function that closes it (idempotent). */
  openStream(): () => void {
    this.#openStreams += 1;
    this.#stream = true;
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      this.#openStreams -= 1;
      this.#maybeEnd();
    };
  }

  /**
   * The response is over with `status` (499 when the client left). Idempotent: the first status
   * wins. The line is written now, or when the last open stream closes.
   */
  end(status: number): void {
    if (this.#status !== undefined) return;
    this.#status = status;
    this.#maybeEnd();
  }

  #maybeEnd(): void {
    if (this.#ended || this.#status === undefined || this.#openStreams > 0) return;
    this.#ended = true;
    this.timings.endedAt = this.#now();
    this.#outcome ??= this.#status < 400 ? 'ok' : 'error';
    this.#onEnd(this);
  }
}

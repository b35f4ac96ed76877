import type { GuardEvent } from '@claude-guard/core';
import { DEFAULT_MAX_MODELS, failureReason, ModelLabels, statusClass } from './labels.js';
import type { MetricsSink, TokenCounts } from './metrics-sink.js';

/**
 * Options of {@link GuardEventInterpreter} (and of the metrics built on it).
 *
 * @example
 * ```ts
 * const options: ObserveOptions = { maxModels: 10, secrets: [process.env.GATEWAY_TOKEN ?? ''] };
 * ```
 */
export interface ObserveOptions {
  /** Milliseconds, for the times derived from events (time to first event). Default `performance.now`. */
  now?: () => number;
  /** Distinct model labels before the rest become `other`. Default 20. */
  maxModels?: number;
  /** Strings no label may hold, besides anything shaped like an Anthropic key. */
  secrets?: readonly string[];
  /** Requests followed at once (for in-flight and derived facts); the oldest is dropped past it. Default 10 000. */
  maxTrackedRequests?: number;
}

/** What is remembered of one request between its events. */
interface RequestState {
  readonly route: string;
  readonly startedAt: number;
  inFlight: boolean;
  lastFailure: { kind: string; status: number | undefined; errorType: string | undefined } | undefined;
  gaveUp: boolean;
  firstEventAt: number | undefined;
  committedBy: string | undefined;
}

// Fields a newer core may put on its events; read when present, derived meanwhile (see the README).
interface LaterFields {
  type: string;
  route?: unknown;
  requestId?: unknown;
  reason?: unknown;
  errorType?: unknown;
  firstEventMs?: unknown;
  commitMs?: unknown;
  inputTokens?: unknown;
  cacheReadInputTokens?: unknown;
  cacheCreationInputTokens?: unknown;
}

const SOURCE = /^[a-z-]{1,40}$/;
const OUTCOME = /^[a-z-]{1,40}$/;
const BREAKER_TRANSITION = {
  'breaker-open': 'open',
  'breaker-half-open': 'half-open',
  'breaker-close': 'closed',
} as const;

const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;

/**
 * Turns the guard's events into measurements for a {@link MetricsSink}. The events say what happened
 * to which request; the few facts they do not carry yet are derived from their order (see the
 * README's "Observe it": time to first event from the commit, retry reasons from the failure before
 * the retry, in flight from a request's first event, stalls after the answer from the outcome).
 *
 * @example
 * ```ts
 * const interpreter = new GuardEventInterpreter(sink);
 * const off = guard.on((event) => interpreter.handle(event));
 * ```
 */
// Admission's reasons, a bounded label set.
const SHED_REASONS: ReadonlySet<string> = new Set([
  'queue-full',
  'queue-timeout',
  'rate-limit',
  'paused',
  'spend-limit',
  'client-aborted',
]);

export class GuardEventInterpreter {
  readonly #sink: MetricsSink;
  readonly #now: () => number;
  readonly #models: ModelLabels;
  readonly #maxTracked: number;
  readonly #requests = new Map<string, RequestState>();
  #stallEvents = false;

  constructor(sink: MetricsSink, options: ObserveOptions = {}) {
    this.#sink = sink;
    this.#now = options.now ?? (() => performance.now());
    this.#models = new ModelLabels(options.maxModels ?? DEFAULT_MAX_MODELS, options.secrets ?? []);
    this.#maxTracked = options.maxTrackedRequests ?? 10_000;
  }

  /** Requests currently followed (for tests and leak checks). */
  get tracked(): number {
    return this.#requests.size;
  }

  /** Takes one event; never throws on a shape it does not know. */
  handle(event: GuardEvent): void {
    const later = event as LaterFields;
    switch (later.type) {
      case 'request-start': {
        // A newer core announces each request: in flight from its very start.
        if (typeof later.route === 'string' && typeof later.requestId === 'string') {
          this.#state(later.route, later.requestId);
        }
        return;
      }
      case 'stream-stalled': {
        this.#stallEvents = true;
        if (typeof later.route === 'string') this.#sink.streamStalled(later.route);
        return;
      }
    }
    switch (event.type) {
      case 'breaker-open':
      case 'breaker-half-open':
      case 'breaker-close':
        this.#sink.breakerTransitioned(event.key, BREAKER_TRANSITION[event.type]);
        return;
      case 'attempt':
        this.#state(event.route, event.requestId);
        return;
      case 'attempt-failed': {
        const state = this.#state(event.route, event.requestId);
        const errorType = typeof later.errorType === 'string' ? later.errorType : undefined;
        state.lastFailure = { kind: event.kind, status: event.status, errorType };
        if (event.kind === 'stream-stalled' && !this.#stallEvents) this.#sink.streamStalled(event.route);
        return;
      }
      case 'retry': {
        const state = this.#state(event.route, event.requestId);
        const failure = state.lastFailure;
        const reason =
          typeof later.reason === 'string'
            ? failureReason(later.reason, undefined)
            : failure
              ? failureReason(failure.kind, failure.status, failure.errorType)
              : 'unknown';
        this.#sink.retried(event.route, reason);
        return;
      }
      case 'give-up':
        this.#state(event.route, event.requestId).gaveUp = true;
        return;
      case 'retry-budget-rejected':
        this.#state(event.route, event.requestId);
        this.#sink.retryBudgetRejected(event.route);
        return;
      case 'deadline-exceeded':
        this.#state(event.route, event.requestId);
        this.#sink.deadlineExceeded(event.route, SOURCE.test(event.source) ? event.source : 'other');
        return;
      case 'hedge-started':
        this.#sink.hedged?.(event.route, 'started', undefined);
        return;
      case 'hedge-won':
      case 'hedge-lost':
        this.#sink.hedged?.(
          event.route,
          event.type === 'hedge-won' ? 'won' : 'lost',
          event.savedMs === undefined ? undefined : event.savedMs / 1000,
        );
        return;
      case 'breaker-rejected':
        this.#state(event.route, event.requestId);
        this.#sink.breakerRejected(event.route, event.key);
        return;
      case 'stream-committed': {
        const state = this.#state(event.route, event.requestId);
        state.committedBy ??= event.by;
        if (event.by === 'first-event') state.firstEventAt ??= this.#now();
        return;
      }
      case 'admission-shed':
        this.#sink.admissionShed(event.route, SHED_REASONS.has(event.reason) ? event.reason : 'other');
        return;
      case 'admission-granted':
        this.#sink.queueWaited(event.route, event.waitedMs / 1000);
        return;
      case 'store-degraded':
        this.#sink.storeDegraded?.();
        return;
      case 'client-aborted':
        // Counted once, at the request's end (status 499), streamed or not.
        this.#state(event.route, event.requestId);
        return;
      case 'request-end':
        this.#ended(event, later);
        return;
    }
  }

  #ended(event: Extract<GuardEvent, { type: 'request-end' }>, later: LaterFields): void {
    const key = requestKey(event.route, event.requestId);
    const state = this.#requests.get(key);
    this.#requests.delete(key);
    const outcome = OUTCOME.test(event.outcome) ? event.outcome : 'other';
    if (event.attempts > 0) this.#sink.attemptsMade(event.route, event.attempts);
    // A stall after the answer began ends the request without a failed attempt: count it here, unless
    // the last failed attempt was the stall the retry loop gave up on (already counted).
    if (
      outcome === 'stream-stalled' &&
      !this.#stallEvents &&
      !(state?.gaveUp === true && state.lastFailure?.kind === 'stream-stalled')
    ) {
      this.#sink.streamStalled(event.route);
    }
    // The record's own time to the first event when it has one; a commit by first event is that moment.
    const ttfeMs = event.stream
      ? (count(later.firstEventMs) ??
        (state?.committedBy === 'first-event' ? count(later.commitMs) : undefined) ??
        (state?.firstEventAt === undefined ? undefined : Math.max(0, state.firstEventAt - state.startedAt)))
      : undefined;
    this.#sink.requestEnded({
      route: event.route,
      model: this.#models.label(event.model),
      outcome,
      status: event.status,
      statusClass: statusClass(event.status),
      durationSeconds: Math.max(0, event.durationMs) / 1000,
      stream: event.stream,
      timeToFirstEventSeconds: ttfeMs === undefined ? undefined : ttfeMs / 1000,
      tokens: tokensOf(later, event.outputTokens),
      clientDisconnected: event.status === 499,
      wasInFlight: state?.inFlight ?? false,
    });
  }

  #state(route: string, requestId: string): RequestState {
    const key = requestKey(route, requestId);
    let state = this.#requests.get(key);
    if (state) return state;
    state = {
      route,
      startedAt: this.#now(),
      inFlight: true,
      lastFailure: undefined,
      gaveUp: false,
      firstEventAt: undefined,
      committedBy: undefined,
    };
    this.#requests.set(key, state);
    this.#sink.requestStarted(route);
    if (this.#requests.size > this.#maxTracked) this.#evictOldest();
    return state;
  }

  #evictOldest(): void {
    const oldest = this.#requests.entries().next();
    if (oldest.done) return;
    const [key, state] = oldest.value;
    this.#requests.delete(key);
    if (state.inFlight) this.#sink.requestAbandoned(state.route);
  }
}

function requestKey(route: string, requestId: string): string {
  return `${route}\n${requestId}`;
}

/** Token counts by type from the record (a newer core has them all; an older one only output). */
function tokensOf(record: LaterFields, outputTokens: number | undefined): TokenCounts {
  return {
    input: count(record.inputTokens),
    output: count(outputTokens),
    cacheRead: count(record.cacheReadInputTokens),
    cacheWrite: count(record.cacheCreationInputTokens),
  };
}

import { metrics, ValueType, type Attributes, type MeterProvider, type ObservableResult } from '@opentelemetry/api';
import { GuardEventInterpreter, type ObserveOptions } from './guard-observer.js';
import * as genAi from './gen-ai.js';
import { NO_MODEL } from './labels.js';
import { BREAKER_STATE_VALUE, type MetricsSink, type RequestMeasurement } from './metrics-sink.js';
import { ObservedGuards, storeConnected, type ObservableGuard } from './observed-guards.js';
import { TELEMETRY_SCOPE, TELEMETRY_VERSION } from './version.js';

/**
 * Options of {@link createOtelMetrics}.
 *
 * @example
 * ```ts
 * createOtelMetrics({ guard, meterProvider });
 * ```
 */
export interface OtelMetricsOptions extends ObserveOptions {
  /** The guard (or guards) to observe now; more with `observe()`. */
  guard?: ObservableGuard | readonly ObservableGuard[];
  /**
   * Default: the provider registered with `@opentelemetry/api` when this is called. The API has no
   * stand-in for a meter provider registered later: register yours first.
   */
  meterProvider?: MeterProvider;
}

/**
 * The guard's OpenTelemetry metrics.
 *
 * @example
 * ```ts
 * const otelMetrics = createOtelMetrics({ guard });
 * process.on('SIGTERM', () => otelMetrics.close());
 * ```
 */
export interface OtelMetrics {
  /** Observes one more guard; returns the function that stops observing it. */
  observe(guard: ObservableGuard): () => void;
  /** Stops observing every guard (the instruments stay with their meter). */
  close(): void;
}

/** Every instrument this module creates, in the order of the README's table. */
export const OTEL_METRIC_NAMES = [
  genAi.METRIC_GEN_AI_CLIENT_OPERATION_DURATION,
  genAi.METRIC_GEN_AI_CLIENT_TOKEN_USAGE,
  genAi.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
  'claude_guard.requests',
  'claude_guard.requests.in_flight',
  'claude_guard.upstream.attempts',
  'claude_guard.retries',
  'claude_guard.hedges',
  'claude_guard.hedge.saved',
  'claude_guard.retry_budget.rejections',
  'claude_guard.breaker.state',
  'claude_guard.breaker.transitions',
  'claude_guard.breaker.rejections',
  'claude_guard.stream.stalls',
  'claude_guard.client.disconnects',
  'claude_guard.deadline.exceeded',
  'claude_guard.tokens',
  'claude_guard.admission.shed',
  'claude_guard.queue.wait',
  'claude_guard.queue.length',
  'claude_guard.client.holds',
  'claude_guard.store.degraded',
  'claude_guard.store.connected',
] as const;

/**
 * Records the guard's metrics on an OpenTelemetry meter: the GenAI client metrics
 * (`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`,
 * `gen_ai.client.operation.time_to_first_chunk`) and the guard's own `claude_guard.*`, with
 * low-cardinality attributes only (route, model, outcome, status class; never a request id).
 *
 * @param options - the guard to observe, the meter provider
 * @returns `observe()` and `close()`
 * @example
 * ```ts
 * import { createOtelMetrics } from '@claude-guard/telemetry/otel';
 * metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
 * createOtelMetrics({ guard });
 * ```
 */
export function createOtelMetrics(options: OtelMetricsOptions = {}): OtelMetrics {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(TELEMETRY_SCOPE, TELEMETRY_VERSION);

  const operationDuration = meter.createHistogram(genAi.METRIC_GEN_AI_CLIENT_OPERATION_DURATION, {
    description: 'GenAI operation duration: a guarded request, its retries and its stream included',
    unit: 's',
    advice: { explicitBucketBoundaries: [...genAi.GEN_AI_DURATION_BUCKETS] },
  });
  const tokenUsage = meter.createHistogram(genAi.METRIC_GEN_AI_CLIENT_TOKEN_USAGE, {
    description: 'Tokens used per request, input (cached included) and output',
    unit: '{token}',
    valueType: ValueType.INT,
    advice: { explicitBucketBoundaries: [...genAi.GEN_AI_TOKEN_BUCKETS] },
  });
  const timeToFirstChunk = meter.createHistogram(genAi.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, {
    description: "Streams: time from the request's start to the upstream's first event",
    unit: 's',
    advice: { explicitBucketBoundaries: [...genAi.GEN_AI_DURATION_BUCKETS] },
  });
  const requests = meter.createCounter('claude_guard.requests', {
    description: 'Guarded requests by route, model, outcome and status class',
    unit: '{request}',
  });
  const inFlight = meter.createUpDownCounter('claude_guard.requests.in_flight', {
    description: 'Guarded requests in flight',
    unit: '{request}',
  });
  const attempts = meter.createCounter('claude_guard.upstream.attempts', {
    description: 'Upstream attempts (a breaker refusal is none)',
    unit: '{attempt}',
  });
  const retries = meter.createCounter('claude_guard.retries', {
    description: 'Retries by route and the reason of the failed attempt before them',
    unit: '{retry}',
  });
  const budgetRejections = meter.createCounter('claude_guard.retry_budget.rejections', {
    description: 'Retries refused because the retry budget was spent',
    unit: '{retry}',
  });
  const breakerState = meter.createObservableGauge('claude_guard.breaker.state', {
    description: 'Circuit breaker state: 0 closed, 1 open, 2 half-open',
    unit: '1',
    valueType: ValueType.INT,
  });
  const transitions = meter.createCounter('claude_guard.breaker.transitions', {
    description: 'Circuit breaker transitions by key and the state entered',
    unit: '{transition}',
  });
  const breakerRejections = meter.createCounter('claude_guard.breaker.rejections', {
    description: 'Requests refused by an open circuit breaker',
    unit: '{request}',
  });
  const stalls = meter.createCounter('claude_guard.stream.stalls', {
    description: 'Upstream streams that stalled',
    unit: '{stream}',
  });
  const disconnects = meter.createCounter('claude_guard.client.disconnects', {
    description: 'Requests whose client left before the answer was complete',
    unit: '{request}',
  });
  const deadlines = meter.createCounter('claude_guard.deadline.exceeded', {
    description: 'Requests whose deadline ran out, by whose budget it was',
    unit: '{request}',
  });
  const hedges = meter.createCounter('claude_guard.hedges', {
    description: 'Hedged attempts (stream.hedge): started, and which leg answered first (won: the hedge)',
    unit: '{hedge}',
  });
  const hedgeSaved = meter.createCounter('claude_guard.hedge.saved', {
    description: "Time to first event saved by won hedges, estimated from the route's observed times",
    unit: 's',
  });
  const tokens = meter.createCounter('claude_guard.tokens', {
    description: 'Tokens by type: input (uncached), output, cache_read, cache_write',
    unit: '{token}',
    valueType: ValueType.INT,
  });

  breakerState.addCallback((result: ObservableResult) => {
    for (const guard of observed.guards()) {
      for (const breaker of guard.status().breakers) {
        result.observe(BREAKER_STATE_VALUE[breaker.state], { [genAi.ATTR_BREAKER_KEY]: breaker.key });
      }
    }
  });

  const shed = meter.createCounter('claude_guard.admission.shed', {
    description: 'Requests admission control answered without calling Claude, by reason',
    unit: '{request}',
  });
  const queueWait = meter.createHistogram('claude_guard.queue.wait', {
    description: 'Time a queued request waited for its concurrency slot',
    unit: 's',
  });
  meter
    .createObservableGauge('claude_guard.queue.length', {
      description: 'Requests waiting for a concurrency slot, by queue (breaker key)',
      unit: '{request}',
    })
    .addCallback((result: ObservableResult) => {
      for (const guard of observed.guards()) {
        for (const queue of guard.status().admission?.queues ?? []) {
          result.observe(queue.queued.interactive + queue.queued.batch, { [genAi.ATTR_BREAKER_KEY]: queue.name });
        }
      }
    });
  meter
    .createObservableGauge('claude_guard.client.holds', {
      description: "Clients (API keys) held now: paused by a 429's retry-after, or held after a spend limit",
      unit: '{client}',
    })
    .addCallback((result: ObservableResult) => {
      const held = { paused: 0, 'spend-limit': 0 };
      for (const guard of observed.guards()) {
        for (const client of guard.status().admission?.clients ?? []) if (client.hold) held[client.hold.reason] += 1;
      }
      for (const [reason, count] of Object.entries(held)) result.observe(count, { 'claude_guard.hold.reason': reason });
    });
  const storeDegraded = meter.createCounter('claude_guard.store.degraded', {
    description: 'Fleet mode: times the shared store went away (a command failed or was slow); local state meanwhile',
  });
  meter
    .createObservableGauge('claude_guard.store.connected', {
      description:
        'Fleet mode: 0 while a replica runs on local state (its shared store away), else 1 (also without a store)',
    })
    .addCallback((result: ObservableResult) => {
      result.observe(storeConnected(observed.guards()));
    });

  const route = (name: string): Attributes => ({ [genAi.ATTR_ROUTE]: name });
  const sink: MetricsSink = {
    requestStarted: (name) => inFlight.add(1, route(name)),
    requestAbandoned: (name) => inFlight.add(-1, route(name)),
    requestEnded(m: RequestMeasurement) {
      if (m.wasInFlight) inFlight.add(-1, route(m.route));
      const model = m.model === NO_MODEL ? {} : { [genAi.ATTR_GEN_AI_REQUEST_MODEL]: m.model };
      requests.add(1, {
        [genAi.ATTR_ROUTE]: m.route,
        ...model,
        [genAi.ATTR_OUTCOME]: m.outcome,
        [genAi.ATTR_STATUS_CLASS]: m.statusClass,
      });
      if (m.clientDisconnected) disconnects.add(1, route(m.route));
      // The GenAI metrics describe operations that reached for a model; a request refused before it named one did not.
      if (m.model !== NO_MODEL) {
        const operation: Attributes = {
          [genAi.ATTR_GEN_AI_OPERATION_NAME]: genAi.GEN_AI_OPERATION_CHAT,
          [genAi.ATTR_GEN_AI_PROVIDER_NAME]: genAi.GEN_AI_PROVIDER_ANTHROPIC,
          [genAi.ATTR_ROUTE]: m.route,
          ...model,
        };
        const ok = m.status < 400;
        operationDuration.record(
          m.durationSeconds,
          ok ? operation : { ...operation, [genAi.ATTR_ERROR_TYPE]: m.outcome },
        );
        if (m.timeToFirstEventSeconds !== undefined) timeToFirstChunk.record(m.timeToFirstEventSeconds, operation);
        const { input, output, cacheRead, cacheWrite } = m.tokens;
        if (input !== undefined) {
          tokenUsage.record(input + (cacheRead ?? 0) + (cacheWrite ?? 0), {
            ...operation,
            [genAi.ATTR_GEN_AI_TOKEN_TYPE]: 'input',
          });
        }
        if (output !== undefined) tokenUsage.record(output, { ...operation, [genAi.ATTR_GEN_AI_TOKEN_TYPE]: 'output' });
      }
      for (const [type, value] of [
        ['input', m.tokens.input],
        ['output', m.tokens.output],
        ['cache_read', m.tokens.cacheRead],
        ['cache_write', m.tokens.cacheWrite],
      ] as const) {
        if (value !== undefined && value > 0) {
          tokens.add(value, { [genAi.ATTR_ROUTE]: m.route, ...model, [genAi.ATTR_TOKEN_TYPE]: type });
        }
      }
    },
    attemptsMade: (name, count) => attempts.add(count, route(name)),
    retried: (name, reason) => retries.add(1, { [genAi.ATTR_ROUTE]: name, [genAi.ATTR_RETRY_REASON]: reason }),
    retryBudgetRejected: (name) => budgetRejections.add(1, route(name)),
    hedged: (name, result, savedSeconds) => {
      hedges.add(1, { [genAi.ATTR_ROUTE]: name, [genAi.ATTR_HEDGE_RESULT]: result });
      if (savedSeconds !== undefined && savedSeconds > 0) hedgeSaved.add(savedSeconds, route(name));
    },
    breakerTransitioned: (key, to) =>
      transitions.add(1, { [genAi.ATTR_BREAKER_KEY]: key, [genAi.ATTR_BREAKER_STATE]: to }),
    breakerRejected: (name, key) =>
      breakerRejections.add(1, { [genAi.ATTR_ROUTE]: name, [genAi.ATTR_BREAKER_KEY]: key }),
    streamStalled: (name) => stalls.add(1, route(name)),
    deadlineExceeded: (name, source) =>
      deadlines.add(1, { [genAi.ATTR_ROUTE]: name, [genAi.ATTR_DEADLINE_SOURCE]: source }),
    admissionShed: (name, reason) => shed.add(1, { [genAi.ATTR_ROUTE]: name, 'claude_guard.admission.reason': reason }),
    queueWaited: (name, seconds) => queueWait.record(seconds, route(name)),
    storeDegraded: () => storeDegraded.add(1),
  };
  const interpreter = new GuardEventInterpreter(sink, options);
  const observed = new ObservedGuards((event) => interpreter.handle(event));
  observed.observeAll(options.guard);

  return {
    observe: (guard) => observed.observe(guard),
    close: () => observed.close(),
  };
}

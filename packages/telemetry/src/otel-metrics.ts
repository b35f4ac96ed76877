import {
  metrics,
  ValueType,
  type Attributes,
  type Meter,
  type MeterProvider,
  type ObservableResult,
} from '@opentelemetry/api';
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
  // The counters every request moves are summed here and reported at collection (see `RequestSums`).
  const sums = requestSums(meter);
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
  // Attribute sets are built once per route and model and reused: a histogram's record still hashes
  // its set (the SDK has no bound instruments), but nothing is allocated per request.
  const operations = new Map<string, Map<string, OperationAttributes>>();
  const operationOf = (routeName: string, model: string): OperationAttributes => {
    let byModel = operations.get(routeName);
    if (byModel === undefined) operations.set(routeName, (byModel = new Map<string, OperationAttributes>()));
    let found = byModel.get(model);
    if (found === undefined) byModel.set(model, (found = operationAttributes(routeName, model)));
    return found;
  };
  const sink: MetricsSink = {
    requestStarted: (name) => {
      sums.route(name).inFlight += 1;
    },
    requestAbandoned: (name) => {
      sums.route(name).inFlight -= 1;
    },
    requestEnded(m: RequestMeasurement) {
      const routeSums = sums.route(m.route);
      if (m.wasInFlight) routeSums.inFlight -= 1;
      if (m.clientDisconnected) routeSums.disconnects = (routeSums.disconnects ?? 0) + 1;
      const modelSums = sums.model(m.route, m.model);
      modelSums.request(m.outcome, m.statusClass).value += 1;
      const { input, output, cacheRead, cacheWrite } = m.tokens;
      if (input !== undefined && input > 0) modelSums.tokens.input = (modelSums.tokens.input ?? 0) + input;
      if (output !== undefined && output > 0) modelSums.tokens.output = (modelSums.tokens.output ?? 0) + output;
      if (cacheRead !== undefined && cacheRead > 0) {
        modelSums.tokens.cache_read = (modelSums.tokens.cache_read ?? 0) + cacheRead;
      }
      if (cacheWrite !== undefined && cacheWrite > 0) {
        modelSums.tokens.cache_write = (modelSums.tokens.cache_write ?? 0) + cacheWrite;
      }
      // The GenAI metrics describe operations that reached for a model; a request refused before it named one did not.
      if (m.model === NO_MODEL) return;
      const operation = operationOf(m.route, m.model);
      operationDuration.record(m.durationSeconds, m.status < 400 ? operation.ok : operation.failed(m.outcome));
      if (m.timeToFirstEventSeconds !== undefined) timeToFirstChunk.record(m.timeToFirstEventSeconds, operation.ok);
      if (input !== undefined) tokenUsage.record(input + (cacheRead ?? 0) + (cacheWrite ?? 0), operation.input);
      if (output !== undefined) tokenUsage.record(output, operation.output);
    },
    attemptsMade: (name, count) => {
      const routeSums = sums.route(name);
      routeSums.attempts = (routeSums.attempts ?? 0) + count;
    },
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

/** The attribute sets of the GenAI histograms for one route and model, built once. */
interface OperationAttributes {
  /** `gen_ai.client.operation.duration` of a request that did not fail, and its time to first chunk. */
  readonly ok: Attributes;
  /** `gen_ai.client.token.usage`, input and output. */
  readonly input: Attributes;
  readonly output: Attributes;
  /** `gen_ai.client.operation.duration` of a failed request: `error.type` is its (bounded) outcome. */
  failed(outcome: string): Attributes;
}

function operationAttributes(route: string, model: string): OperationAttributes {
  const ok: Attributes = Object.freeze({
    [genAi.ATTR_GEN_AI_OPERATION_NAME]: genAi.GEN_AI_OPERATION_CHAT,
    [genAi.ATTR_GEN_AI_PROVIDER_NAME]: genAi.GEN_AI_PROVIDER_ANTHROPIC,
    [genAi.ATTR_ROUTE]: route,
    [genAi.ATTR_GEN_AI_REQUEST_MODEL]: model,
  });
  const failures = new Map<string, Attributes>();
  return {
    ok,
    input: Object.freeze({ ...ok, [genAi.ATTR_GEN_AI_TOKEN_TYPE]: 'input' }),
    output: Object.freeze({ ...ok, [genAi.ATTR_GEN_AI_TOKEN_TYPE]: 'output' }),
    failed(outcome) {
      let found = failures.get(outcome);
      if (found === undefined)
        failures.set(outcome, (found = Object.freeze({ ...ok, [genAi.ATTR_ERROR_TYPE]: outcome })));
      return found;
    },
  };
}

/** What one route has summed: `undefined` until first counted, so that no series appears before its first add. */
interface RouteSums {
  readonly attributes: Attributes;
  inFlight: number;
  attempts: number | undefined;
  disconnects: number | undefined;
}

/** Requests by outcome and status class, and tokens by type, of one route and model. */
interface ModelSums {
  request(outcome: string, statusClass: string): { readonly attributes: Attributes; value: number };
  readonly requests: Iterable<{ readonly attributes: Attributes; value: number }>;
  readonly tokens: Record<TokenType, number | undefined>;
  readonly tokenAttributes: Readonly<Record<TokenType, Attributes>>;
}

type TokenType = 'input' | 'output' | 'cache_read' | 'cache_write';
const TOKEN_TYPES: readonly TokenType[] = ['input', 'output', 'cache_read', 'cache_write'];

/**
 * The sums of the counters every request moves (`claude_guard.requests`, `.requests.in_flight`,
 * `.upstream.attempts`, `.client.disconnects`, `.tokens`), kept here and reported by observable
 * instruments when the meter collects. A synchronous `add` makes the SDK hash the attribute set
 * (sort its keys, JSON-encode it) on every call, which profiling found to be most of this module's
 * cost per request; an add here is a field increment on an object found by route and model. The
 * exported data are the same cumulative sums (monotonic, but for the up-down in-flight count).
 */
interface RequestSums {
  route(route: string): RouteSums;
  model(route: string, model: string): ModelSums;
}

// One set of sums per meter: metrics created twice on one meter add into the same sums, as the SDK's
// own instruments of one name would (two callbacks observing one attribute set would not add up).
const SUMS = new WeakMap<Meter, RequestSums>();

function requestSums(meter: Meter): RequestSums {
  const existing = SUMS.get(meter);
  if (existing) return existing;
  const routes = new Map<string, RouteSums>();
  const models = new Map<string, Map<string, ModelSums>>();
  const sums: RequestSums = {
    route(route) {
      let found = routes.get(route);
      if (found === undefined) {
        found = {
          attributes: Object.freeze({ [genAi.ATTR_ROUTE]: route }),
          inFlight: 0,
          attempts: undefined,
          disconnects: undefined,
        };
        routes.set(route, found);
      }
      return found;
    },
    model(route, model) {
      let byModel = models.get(route);
      if (byModel === undefined) models.set(route, (byModel = new Map<string, ModelSums>()));
      let found = byModel.get(model);
      if (found === undefined) byModel.set(model, (found = modelSums(route, model)));
      return found;
    },
  };
  SUMS.set(meter, sums);

  meter
    .createObservableCounter('claude_guard.requests', {
      description: 'Guarded requests by route, model, outcome and status class',
      unit: '{request}',
    })
    .addCallback((result: ObservableResult) => {
      for (const byModel of models.values()) {
        for (const model of byModel.values())
          for (const cell of model.requests) result.observe(cell.value, cell.attributes);
      }
    });
  meter
    .createObservableUpDownCounter('claude_guard.requests.in_flight', {
      description: 'Guarded requests in flight',
      unit: '{request}',
    })
    .addCallback((result: ObservableResult) => {
      for (const route of routes.values()) result.observe(route.inFlight, route.attributes);
    });
  meter
    .createObservableCounter('claude_guard.upstream.attempts', {
      description: 'Upstream attempts (a breaker refusal is none)',
      unit: '{attempt}',
    })
    .addCallback((result: ObservableResult) => {
      for (const route of routes.values())
        if (route.attempts !== undefined) result.observe(route.attempts, route.attributes);
    });
  meter
    .createObservableCounter('claude_guard.client.disconnects', {
      description: 'Requests whose client left before the answer was complete',
      unit: '{request}',
    })
    .addCallback((result: ObservableResult) => {
      for (const route of routes.values()) {
        if (route.disconnects !== undefined) result.observe(route.disconnects, route.attributes);
      }
    });
  meter
    .createObservableCounter('claude_guard.tokens', {
      description: 'Tokens by type: input (uncached), output, cache_read, cache_write',
      unit: '{token}',
      valueType: ValueType.INT,
    })
    .addCallback((result: ObservableResult) => {
      for (const byModel of models.values()) {
        for (const model of byModel.values()) {
          for (const type of TOKEN_TYPES) {
            const value = model.tokens[type];
            if (value !== undefined) result.observe(value, model.tokenAttributes[type]);
          }
        }
      }
    });
  return sums;
}

function modelSums(route: string, model: string): ModelSums {
  // A request refused before it named a model has no model attribute (`none` is Prometheus' label only).
  const base: Attributes =
    model === NO_MODEL
      ? { [genAi.ATTR_ROUTE]: route }
      : { [genAi.ATTR_ROUTE]: route, [genAi.ATTR_GEN_AI_REQUEST_MODEL]: model };
  const requests = new Map<string, Map<string, { readonly attributes: Attributes; value: number }>>();
  const cells: { readonly attributes: Attributes; value: number }[] = [];
  const tokenAttributes = {} as Record<TokenType, Attributes>;
  for (const type of TOKEN_TYPES) tokenAttributes[type] = Object.freeze({ ...base, [genAi.ATTR_TOKEN_TYPE]: type });
  return {
    request(outcome, statusClass) {
      let byClass = requests.get(outcome);
      if (byClass === undefined)
        requests.set(outcome, (byClass = new Map<string, { readonly attributes: Attributes; value: number }>()));
      let cell = byClass.get(statusClass);
      if (cell === undefined) {
        cell = {
          attributes: Object.freeze({ ...base, [genAi.ATTR_OUTCOME]: outcome, [genAi.ATTR_STATUS_CLASS]: statusClass }),
          value: 0,
        };
        byClass.set(statusClass, cell);
        cells.push(cell);
      }
      return cell;
    },
    requests: cells,
    tokens: { input: undefined, output: undefined, cache_read: undefined, cache_write: undefined },
    tokenAttributes,
  };
}

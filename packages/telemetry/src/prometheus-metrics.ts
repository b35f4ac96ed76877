import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { GuardEventInterpreter, type ObserveOptions } from './guard-observer.js';
import { ObservedGuards, storeConnected, type ObservableGuard } from './observed-guards.js';
import { BREAKER_STATE_VALUE, type MetricsSink, type RequestMeasurement } from './metrics-sink.js';

/** Request durations, in seconds: 50 ms to 5 min (a long completion). */
export const DURATION_BUCKETS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];
/** Times to the first upstream event, in seconds. */
export const FIRST_EVENT_BUCKETS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60];

/**
 * Options of {@link createPrometheusMetrics}.
 *
 * @example
 * ```ts
 * import { register } from 'prom-client';
 * createPrometheusMetrics({ guard, registry: register }); // one /metrics with your other metrics
 * ```
 */
export interface PrometheusMetricsOptions extends ObserveOptions {
  /** The guard (or guards) to observe now; more with `observe()`. */
  guard?: ObservableGuard | readonly ObservableGuard[];
  /** Where the metrics are registered. Default: a registry of their own (`metrics.registry`). */
  registry?: Registry;
  /** Bucket bounds of `claude_guard_request_duration_seconds`. Default {@link DURATION_BUCKETS}. */
  durationBuckets?: readonly number[];
  /** Bucket bounds of `claude_guard_time_to_first_event_seconds`. Default {@link FIRST_EVENT_BUCKETS}. */
  firstEventBuckets?: readonly number[];
}

/**
 * The guard's metrics in a prom-client registry, named as Prometheus users expect.
 *
 * @example
 * ```ts
 * const metrics = createPrometheusMetrics({ guard });
 * app.get('/metrics', expressMetricsHandler(metrics));
 * ```
 */
export interface PrometheusMetrics {
  readonly registry: Registry;
  /** Observes one more guard; returns the function that stops observing it. */
  observe(guard: ObservableGuard): () => void;
  /** The exposition text of the whole registry. */
  metrics(): Promise<string>;
  /** Stops observing every guard and removes these metrics from the registry. */
  close(): void;
}

/** Every metric name this module registers, in the order of the README's table. */
export const PROMETHEUS_METRIC_NAMES = [
  'claude_guard_requests_total',
  'claude_guard_request_duration_seconds',
  'claude_guard_time_to_first_event_seconds',
  'claude_guard_in_flight',
  'claude_guard_upstream_attempts_total',
  'claude_guard_retries_total',
  'claude_guard_retry_budget_rejections_total',
  'claude_guard_breaker_state',
  'claude_guard_breaker_transitions_total',
  'claude_guard_breaker_rejections_total',
  'claude_guard_stream_stalls_total',
  'claude_guard_client_disconnects_total',
  'claude_guard_deadline_exceeded_total',
  'claude_guard_tokens_total',
  'claude_guard_admission_shed_total',
  'claude_guard_queue_wait_seconds',
  'claude_guard_queue_length',
  'claude_guard_client_holds',
  'claude_guard_hedges_total',
  'claude_guard_hedge_saved_seconds_total',
  'claude_guard_store_degraded_total',
  'claude_guard_store_connected',
] as const;

/**
 * Registers the guard's Prometheus metrics and feeds them from its events. prom-client is the
 * registry Express (express-prom-bundle, prometheus-api-metrics) and Hono (`@hono/prometheus`) users
 * already expose, so these metrics join theirs on one `/metrics`.
 *
 * @param options - the guard to observe, the registry, bucket bounds
 * @returns the metrics, their registry and `close()`
 * @example
 * ```ts
 * import { createPrometheusMetrics, metricsHandler } from '@claude-guard/telemetry';
 *
 * const metrics = createPrometheusMetrics({ guard });
 * app.get('/metrics', (c) => metricsHandler(metrics)(c.req.raw));
 * ```
 */
export function createPrometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? new Registry();
  for (const name of PROMETHEUS_METRIC_NAMES) {
    if (registry.getSingleMetric(name)) {
      throw new Error(
        `createPrometheusMetrics: '${name}' is already registered in this registry; create the metrics once and observe() each guard`,
      );
    }
  }
  const registers = [registry];

  // The series every request moves are summed in `routes` and `models` and written at scrape time
  // (`collect`): prom-client's inc/dec hash and validate the label set on every call, which
  // profiling found to be most of this module's cost per request. Histograms still observe per
  // request, with label objects built once per route and model.
  const routes = new Map<string, RouteSeries>();
  const models = new Map<string, Map<string, ModelSeries>>();
  const routeSeries = (route: string): RouteSeries => {
    let found = routes.get(route);
    if (found === undefined) {
      found = { labels: { route }, inFlight: 0, attempts: undefined, disconnects: undefined };
      routes.set(route, found);
    }
    return found;
  };
  const modelSeries = (route: string, model: string): ModelSeries => {
    let byModel = models.get(route);
    if (byModel === undefined) models.set(route, (byModel = new Map<string, ModelSeries>()));
    let found = byModel.get(model);
    if (found === undefined) byModel.set(model, (found = newModelSeries(route, model)));
    return found;
  };

  new Counter({
    name: 'claude_guard_requests_total',
    help: 'Guarded requests by route, model and outcome',
    labelNames: ['route', 'model', 'outcome'] as const,
    registers,
    collect() {
      this.reset();
      for (const byModel of models.values()) {
        for (const series of byModel.values())
          for (const cell of series.requests.values()) this.inc(cell.labels, cell.value);
      }
    },
  });
  const duration = new Histogram({
    name: 'claude_guard_request_duration_seconds',
    help: 'Guarded request duration in seconds, from its start to the end of its answer (a stream included)',
    labelNames: ['route', 'model', 'status_class'] as const,
    buckets: [...(options.durationBuckets ?? DURATION_BUCKETS)],
    registers,
  });
  const firstEvent = new Histogram({
    name: 'claude_guard_time_to_first_event_seconds',
    help: "Streams: seconds from the request's start to the upstream's first event",
    labelNames: ['route', 'model'] as const,
    buckets: [...(options.firstEventBuckets ?? FIRST_EVENT_BUCKETS)],
    registers,
  });
  new Gauge({
    name: 'claude_guard_in_flight',
    help: 'Guarded requests in flight',
    labelNames: ['route'] as const,
    registers,
    collect() {
      this.reset();
      for (const series of routes.values()) this.set(series.labels, series.inFlight);
    },
  });
  new Counter({
    name: 'claude_guard_upstream_attempts_total',
    help: 'Upstream attempts (a breaker refusal is none)',
    labelNames: ['route'] as const,
    registers,
    collect() {
      this.reset();
      for (const series of routes.values()) if (series.attempts !== undefined) this.inc(series.labels, series.attempts);
    },
  });
  const retries = new Counter({
    name: 'claude_guard_retries_total',
    help: 'Retries by route and the reason of the failed attempt before them',
    labelNames: ['route', 'reason'] as const,
    registers,
  });
  const hedges = new Counter({
    name: 'claude_guard_hedges_total',
    help: 'Hedged attempts (stream.hedge): started, and which leg answered first (won: the hedge)',
    labelNames: ['route', 'result'] as const,
    registers,
  });
  const hedgeSaved = new Counter({
    name: 'claude_guard_hedge_saved_seconds_total',
    help: "Time to first event saved by won hedges, estimated from the route's observed times",
    labelNames: ['route'] as const,
    registers,
  });
  const budgetRejections = new Counter({
    name: 'claude_guard_retry_budget_rejections_total',
    help: 'Retries refused because the retry budget was spent',
    labelNames: ['route'] as const,
    registers,
  });
  new Gauge({
    name: 'claude_guard_breaker_state',
    help: 'Circuit breaker state: 0 closed, 1 open, 2 half-open',
    labelNames: ['key'] as const,
    registers,
    collect() {
      this.reset();
      for (const guard of observed.guards()) {
        for (const breaker of guard.status().breakers)
          this.set({ key: breaker.key }, BREAKER_STATE_VALUE[breaker.state]);
      }
    },
  });
  const transitions = new Counter({
    name: 'claude_guard_breaker_transitions_total',
    help: 'Circuit breaker transitions by key and the state entered',
    labelNames: ['key', 'to'] as const,
    registers,
  });
  const breakerRejections = new Counter({
    name: 'claude_guard_breaker_rejections_total',
    help: 'Requests refused by an open circuit breaker',
    labelNames: ['route', 'key'] as const,
    registers,
  });
  const stalls = new Counter({
    name: 'claude_guard_stream_stalls_total',
    help: 'Upstream streams that stalled (no first event, or silent too long)',
    labelNames: ['route'] as const,
    registers,
  });
  new Counter({
    name: 'claude_guard_client_disconnects_total',
    help: 'Requests whose client left before the answer was complete',
    labelNames: ['route'] as const,
    registers,
    collect() {
      this.reset();
      for (const series of routes.values()) {
        if (series.disconnects !== undefined) this.inc(series.labels, series.disconnects);
      }
    },
  });
  const deadlines = new Counter({
    name: 'claude_guard_deadline_exceeded_total',
    help: 'Requests whose deadline ran out, by whose budget it was (route-default, call-option, caller-header, route-maximum)',
    labelNames: ['route', 'source'] as const,
    registers,
  });
  new Counter({
    name: 'claude_guard_tokens_total',
    help: 'Tokens by type: input (uncached), output, cache_read, cache_write',
    labelNames: ['route', 'model', 'type'] as const,
    registers,
    collect() {
      this.reset();
      for (const byModel of models.values()) {
        for (const series of byModel.values()) {
          for (const type of TOKEN_TYPES) {
            const value = series.tokens[type];
            if (value !== undefined) this.inc(series.tokenLabels[type], value);
          }
        }
      }
    },
  });

  const shed = new Counter({
    name: 'claude_guard_admission_shed_total',
    help: 'Requests admission control answered without calling Claude, by reason (queue-full, queue-timeout, rate-limit, paused, spend-limit, client-aborted)',
    labelNames: ['route', 'reason'] as const,
    registers,
  });
  const queueWait = new Histogram({
    name: 'claude_guard_queue_wait_seconds',
    help: 'Time a queued request waited for its concurrency slot',
    labelNames: ['route'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  new Gauge({
    name: 'claude_guard_queue_length',
    help: 'Requests waiting for a concurrency slot, by queue (breaker key)',
    labelNames: ['key'] as const,
    registers,
    collect() {
      this.reset();
      for (const guard of observed.guards()) {
        for (const queue of guard.status().admission?.queues ?? [])
          this.set({ key: queue.name }, queue.queued.interactive + queue.queued.batch);
      }
    },
  });
  new Gauge({
    name: 'claude_guard_client_holds',
    help: "Clients (API keys) held now: paused by a 429's retry-after, or held after a spend limit",
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset();
      const held = { paused: 0, 'spend-limit': 0 };
      for (const guard of observed.guards()) {
        for (const client of guard.status().admission?.clients ?? []) if (client.hold) held[client.hold.reason] += 1;
      }
      for (const [reason, count] of Object.entries(held)) this.set({ reason }, count);
    },
  });
  const storeDegraded = new Counter({
    name: 'claude_guard_store_degraded_total',
    help: 'Fleet mode: times the shared store went away (a command failed or was slow); the replica used local state until it came back',
    registers,
  });
  new Gauge({
    name: 'claude_guard_store_connected',
    help: 'Fleet mode: 0 while a replica runs on local state (its shared store away), else 1 (also without a store)',
    registers,
    collect() {
      this.set(storeConnected(observed.guards()));
    },
  });

  const sink: MetricsSink = {
    requestStarted: (route) => {
      routeSeries(route).inFlight += 1;
    },
    requestAbandoned: (route) => {
      routeSeries(route).inFlight -= 1;
    },
    requestEnded(m: RequestMeasurement) {
      const perRoute = routeSeries(m.route);
      if (m.wasInFlight) perRoute.inFlight -= 1;
      if (m.clientDisconnected) perRoute.disconnects = (perRoute.disconnects ?? 0) + 1;
      const series = modelSeries(m.route, m.model);
      series.request(m.outcome).value += 1;
      duration.observe(series.durationLabels(m.statusClass), m.durationSeconds);
      if (m.timeToFirstEventSeconds !== undefined) firstEvent.observe(series.labels, m.timeToFirstEventSeconds);
      const { tokens } = series;
      const { input, output, cacheRead, cacheWrite } = m.tokens;
      if (input !== undefined && input > 0) tokens.input = (tokens.input ?? 0) + input;
      if (output !== undefined && output > 0) tokens.output = (tokens.output ?? 0) + output;
      if (cacheRead !== undefined && cacheRead > 0) tokens.cache_read = (tokens.cache_read ?? 0) + cacheRead;
      if (cacheWrite !== undefined && cacheWrite > 0) tokens.cache_write = (tokens.cache_write ?? 0) + cacheWrite;
    },
    attemptsMade: (route, count) => {
      const series = routeSeries(route);
      series.attempts = (series.attempts ?? 0) + count;
    },
    retried: (route, reason) => retries.inc({ route, reason }),
    retryBudgetRejected: (route) => budgetRejections.inc({ route }),
    hedged: (route, result, savedSeconds) => {
      hedges.inc({ route, result });
      if (savedSeconds !== undefined && savedSeconds > 0) hedgeSaved.inc({ route }, savedSeconds);
    },
    breakerTransitioned: (key, to) => transitions.inc({ key, to }),
    breakerRejected: (route, key) => breakerRejections.inc({ route, key }),
    streamStalled: (route) => stalls.inc({ route }),
    deadlineExceeded: (route, source) => deadlines.inc({ route, source }),
    admissionShed: (route, reason) => shed.inc({ route, reason }),
    queueWaited: (route, seconds) => queueWait.observe({ route }, seconds),
    storeDegraded: () => storeDegraded.inc(),
  };
  const interpreter = new GuardEventInterpreter(sink, options);
  const observed = new ObservedGuards((event) => interpreter.handle(event));
  observed.observeAll(options.guard);

  return {
    registry,
    observe: (guard) => observed.observe(guard),
    metrics: () => registry.metrics(),
    close() {
      observed.close();
      for (const name of PROMETHEUS_METRIC_NAMES) registry.removeSingleMetric(name);
    },
  };
}

/** What one route has summed; a counter is `undefined` until first counted (no series before it). */
interface RouteSeries {
  readonly labels: { route: string };
  inFlight: number;
  attempts: number | undefined;
  disconnects: number | undefined;
}

type TokenType = 'input' | 'output' | 'cache_read' | 'cache_write';
const TOKEN_TYPES: readonly TokenType[] = ['input', 'output', 'cache_read', 'cache_write'];

/** One route and model: requests by outcome, tokens by type, and the histograms' label objects. */
interface ModelSeries {
  readonly labels: { route: string; model: string };
  readonly requests: ReadonlyMap<string, { readonly labels: Record<string, string>; value: number }>;
  request(outcome: string): { readonly labels: Record<string, string>; value: number };
  durationLabels(statusClass: string): Record<string, string>;
  readonly tokens: Record<TokenType, number | undefined>;
  readonly tokenLabels: Readonly<Record<TokenType, Record<string, string>>>;
}

function newModelSeries(route: string, model: string): ModelSeries {
  const labels = { route, model };
  const requests = new Map<string, { readonly labels: Record<string, string>; value: number }>();
  const durations = new Map<string, Record<string, string>>();
  const tokenLabels = {} as Record<TokenType, Record<string, string>>;
  for (const type of TOKEN_TYPES) tokenLabels[type] = { route, model, type };
  return {
    labels,
    requests,
    request(outcome) {
      let cell = requests.get(outcome);
      if (cell === undefined) requests.set(outcome, (cell = { labels: { route, model, outcome }, value: 0 }));
      return cell;
    },
    durationLabels(statusClass) {
      let found = durations.get(statusClass);
      if (found === undefined) durations.set(statusClass, (found = { route, model, status_class: statusClass }));
      return found;
    },
    tokens: { input: undefined, output: undefined, cache_read: undefined, cache_write: undefined },
    tokenLabels,
  };
}

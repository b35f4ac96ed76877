import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPrometheusMetrics, PROMETHEUS_METRIC_NAMES, type PrometheusMetrics } from './prometheus-metrics.js';
import { requestEnd, scriptedGuard } from './testing/scripted-guard.js';

interface Sample {
  labels?: Record<string, string>;
  value?: string;
  buckets?: Record<string, string>;
  count?: string;
  sum?: string;
}
interface Family {
  name: string;
  help: string;
  type: string;
  metrics: Sample[];
}

/** The registry's text, parsed by a real Prometheus text parser. */
async function scrape(metrics: PrometheusMetrics): Promise<Map<string, Family>> {
  const families = parsePrometheusTextFormat(await metrics.metrics()) as Family[];
  return new Map(families.map((family) => [family.name, family]));
}

function samples(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): Sample[] {
  return (families.get(name)?.metrics ?? []).filter((sample) =>
    Object.entries(labels).every(([key, expected]) => sample.labels?.[key] === expected),
  );
}

const value = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}) =>
  samples(families, name, labels).reduce((sum, sample) => sum + Number(sample.value ?? sample.count ?? 0), 0);

/**
 * A labelled histogram's count, sum and buckets. The text parser folds every series of a histogram
 * into one (it was written for unlabelled ones), so histograms are read from prom-client's own JSON.
 */
async function histogram(metrics: PrometheusMetrics, name: string, labels: Record<string, string> = {}) {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((candidate) => candidate.name === name);
  const matches = (value: { labels: Record<string, unknown> }) =>
    Object.entries(labels).every(([key, expected]) => value.labels[key] === expected);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, unknown>; metricName?: string }[];
  const pick = (suffix: string) => values.filter((v) => v.metricName === `${name}${suffix}` && matches(v));
  return {
    count: pick('_count').reduce((sum, v) => sum + v.value, 0),
    sum: pick('_sum').reduce((sum, v) => sum + v.value, 0),
    buckets: Object.fromEntries(pick('_bucket').map((v) => [String(v.labels['le']), v.value])),
    labels: pick('_count').map((v) => v.labels),
  };
}

const MODEL = 'claude-sonnet-5';

describe('createPrometheusMetrics', () => {
  let script: ReturnType<typeof scriptedGuard>;
  let metrics: PrometheusMetrics;
  let now = 0;

  beforeEach(() => {
    script = scriptedGuard();
    now = 0;
    metrics = createPrometheusMetrics({ guard: script.guard, now: () => now });
  });
  afterEach(() => metrics.close());

  it('registers every metric under the names Prometheus users expect, with their types', async () => {
    const families = await scrape(metrics);
    const text = await metrics.metrics();
    for (const name of PROMETHEUS_METRIC_NAMES) expect(text).toContain(`# HELP ${name} `);
    expect(Object.fromEntries([...families].map(([name, family]) => [name, family.type]))).toMatchObject({
      claude_guard_breaker_state: 'GAUGE',
    });
    expect(text).toContain('# TYPE claude_guard_request_duration_seconds histogram');
    expect(text).toContain('# TYPE claude_guard_time_to_first_event_seconds histogram');
    expect(text).toContain('# TYPE claude_guard_requests_total counter');
    expect(text).toContain('# TYPE claude_guard_in_flight gauge');
    expect(metrics.registry.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('counts requests, attempts, retries by reason, tokens and time to first event', async () => {
    const { emit } = script;
    emit({ type: 'attempt', route: 'chat', requestId: 'a', attempt: 0, timeoutMs: 1000 });
    emit({
      type: 'attempt-failed',
      route: 'chat',
      requestId: 'a',
      attempt: 0,
      kind: 'http',
      status: 529,
      transient: true,
    });
    emit({ type: 'retry', route: 'chat', requestId: 'a', attempt: 1, delayMs: 5 });
    emit({ type: 'attempt', route: 'chat', requestId: 'a', attempt: 1, timeoutMs: 1000 });
    now = 350;
    emit({ type: 'stream-committed', route: 'chat', requestId: 'a', attempt: 1, by: 'first-event' });
    let families = await scrape(metrics);
    expect(value(families, 'claude_guard_in_flight', { route: 'chat' })).toBe(1);
    emit(requestEnd('a', { attempts: 2, stream: true, outputTokens: 40, inputTokens: 12, cacheReadInputTokens: 90 }));
    emit(requestEnd('b', { durationMs: 250 }));

    families = await scrape(metrics);
    expect(value(families, 'claude_guard_requests_total', { route: 'chat', model: MODEL, outcome: 'ok' })).toBe(2);
    expect(value(families, 'claude_guard_upstream_attempts_total', { route: 'chat' })).toBe(3);
    expect(value(families, 'claude_guard_retries_total', { route: 'chat', reason: 'overloaded_error' })).toBe(1);
    expect(value(families, 'claude_guard_tokens_total', { route: 'chat', model: MODEL, type: 'output' })).toBe(46);
    expect(value(families, 'claude_guard_tokens_total', { type: 'input' })).toBe(12);
    expect(value(families, 'claude_guard_tokens_total', { type: 'cache_read' })).toBe(90);
    expect(value(families, 'claude_guard_in_flight', { route: 'chat' })).toBe(0);
    const duration = await histogram(metrics, 'claude_guard_request_duration_seconds');
    expect(duration.labels).toEqual([{ route: 'chat', model: MODEL, status_class: '2xx' }]);
    expect(duration.count).toBe(2);
    expect(duration.sum).toBeCloseTo(1.45);
    expect(duration.buckets['0.25']).toBe(1);
    const firstEvent = await histogram(metrics, 'claude_guard_time_to_first_event_seconds', { route: 'chat' });
    expect([firstEvent.count, firstEvent.sum]).toEqual([1, 0.35]);
  });

  it('shows breaker state 0/1/2 from the guard, transitions and rejections', async () => {
    const { emit, breakers } = script;
    breakers.push(
      { key: 'chat', state: 'open' },
      { key: 'proxy', state: 'closed' },
      { key: 'batch', state: 'half-open' },
    );
    emit({ type: 'breaker-open', key: 'chat' });
    emit({ type: 'breaker-rejected', route: 'chat', key: 'chat', requestId: 'r' });
    emit(requestEnd('r', { status: 503, outcome: 'breaker-open', attempts: 0 }));
    const families = await scrape(metrics);
    expect(samples(families, 'claude_guard_breaker_state').map((s) => [s.labels!['key'], s.value])).toEqual([
      ['chat', '1'],
      ['proxy', '0'],
      ['batch', '2'],
    ]);
    expect(value(families, 'claude_guard_breaker_transitions_total', { key: 'chat', to: 'open' })).toBe(1);
    expect(value(families, 'claude_guard_breaker_rejections_total', { route: 'chat', key: 'chat' })).toBe(1);
    expect(value(families, 'claude_guard_requests_total', { outcome: 'breaker-open' })).toBe(1);
    expect(value(families, 'claude_guard_upstream_attempts_total')).toBe(0);
    expect((await histogram(metrics, 'claude_guard_request_duration_seconds', { status_class: '5xx' })).count).toBe(1);
  });

  it('counts stalls, client disconnects, deadlines and budget rejections', async () => {
    const { emit } = script;
    emit({
      type: 'attempt-failed',
      route: 'chat',
      requestId: 's',
      attempt: 0,
      kind: 'stream-stalled',
      status: undefined,
      transient: true,
    });
    emit({ type: 'client-aborted', route: 'chat', requestId: 'c', outputTokens: 2 });
    emit(requestEnd('c', { status: 499, outcome: 'client-aborted', stream: true }));
    emit({ type: 'deadline-exceeded', route: 'chat', requestId: 'd', source: 'caller-header', budgetMs: 50 });
    emit({ type: 'retry-budget-rejected', route: 'chat', requestId: 'e' });
    const families = await scrape(metrics);
    expect(value(families, 'claude_guard_stream_stalls_total', { route: 'chat' })).toBe(1);
    expect(value(families, 'claude_guard_client_disconnects_total', { route: 'chat' })).toBe(1);
    expect(value(families, 'claude_guard_deadline_exceeded_total', { route: 'chat', source: 'caller-header' })).toBe(1);
    expect(value(families, 'claude_guard_retry_budget_rejections_total', { route: 'chat' })).toBe(1);
  });

  it('counts hedges started, won and lost, and the estimated time saved', async () => {
    const { emit } = script;
    const base = { route: 'chat', stream: true } as const;
    emit({ type: 'hedge-started', ...base, requestId: 'h1', delayMs: 100 });
    emit({ type: 'hedge-won', ...base, requestId: 'h1', firstEventMs: 150, savedMs: 1_500 });
    emit({ type: 'hedge-started', ...base, requestId: 'h2', delayMs: 100 });
    emit({ type: 'hedge-lost', ...base, requestId: 'h2', firstEventMs: 120, savedMs: 0 });
    const families = await scrape(metrics);
    expect(value(families, 'claude_guard_hedges_total', { route: 'chat', result: 'started' })).toBe(2);
    expect(value(families, 'claude_guard_hedges_total', { route: 'chat', result: 'won' })).toBe(1);
    expect(value(families, 'claude_guard_hedges_total', { route: 'chat', result: 'lost' })).toBe(1);
    expect(value(families, 'claude_guard_hedge_saved_seconds_total', { route: 'chat' })).toBe(1.5);
  });

  it('fleet mode: counts store-degraded events and shows whether the store answers', async () => {
    const { emit, store } = script;
    // Without a shared store, as the guard's status says: connected (nothing to lose).
    expect(samples(await scrape(metrics), 'claude_guard_store_connected').map((s) => s.value)).toEqual(['1']);
    store.shared = true;
    expect(value(await scrape(metrics), 'claude_guard_store_connected')).toBe(1);
    store.connected = false;
    emit({ type: 'store-degraded', reason: 'StoreUnavailableError' });
    const families = await scrape(metrics);
    expect(samples(families, 'claude_guard_store_connected').map((s) => s.value)).toEqual(['0']);
    expect(value(families, 'claude_guard_store_degraded_total')).toBe(1);
    store.connected = true;
    emit({ type: 'store-recovered' });
    expect(value(await scrape(metrics), 'claude_guard_store_connected')).toBe(1);
    expect(value(await scrape(metrics), 'claude_guard_store_degraded_total')).toBe(1);
  });

  it('refuses a second set of metrics in one registry, and close() makes room', () => {
    const registry = new Registry();
    const first = createPrometheusMetrics({ registry });
    expect(() => createPrometheusMetrics({ registry })).toThrow(/already registered in this registry/);
    first.close();
    createPrometheusMetrics({ registry }).close();
  });

  it('joins an existing registry beside its other metrics', async () => {
    const registry = new Registry();
    registry.registerMetric(
      new (await import('prom-client')).Counter({ name: 'http_requests_total', help: 'theirs', registers: [] }),
    );
    const shared = createPrometheusMetrics({ registry });
    const text = await registry.metrics();
    expect(text).toContain('http_requests_total');
    expect(text).toContain('claude_guard_requests_total');
    shared.close();
    expect(await registry.metrics()).not.toContain('claude_guard_');
  });

  it('observes several guards, each once, and stops on close', async () => {
    const other = scriptedGuard();
    const stop = metrics.observe(other.guard);
    expect(metrics.observe(other.guard)).toBe(stop);
    expect(other.listeners.size).toBe(1);
    other.emit(requestEnd('x', { route: 'other' }));
    stop();
    other.emit(requestEnd('y', { route: 'other' }));
    expect(value(await scrape(metrics), 'claude_guard_requests_total', { route: 'other' })).toBe(1);
    metrics.close();
    expect(script.listeners.size).toBe(0);
  });
});

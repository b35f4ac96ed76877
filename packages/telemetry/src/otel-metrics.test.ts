import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOtelMetrics, OTEL_METRIC_NAMES } from './otel-metrics.js';
import { registerTestOtel } from './testing/otel.js';
import { requestEnd as end, scriptedGuard } from './testing/scripted-guard.js';

describe('createOtelMetrics', () => {
  let otel: ReturnType<typeof registerTestOtel>;
  beforeEach(() => {
    otel = registerTestOtel();
  });
  afterEach(async () => {
    await otel.dispose();
  });

  it('records the GenAI client metrics per request, input counting the cached tokens', async () => {
    const { guard, emit } = scriptedGuard();
    createOtelMetrics({ guard });
    emit({ type: 'attempt', route: 'chat', requestId: 'a', attempt: 0, timeoutMs: 1000 });
    emit({ type: 'stream-committed', route: 'chat', requestId: 'a', attempt: 0, by: 'first-event' });
    emit(
      end('a', {
        stream: true,
        commitMs: 300,
        inputTokens: 11,
        cacheReadInputTokens: 100,
        cacheCreationInputTokens: 7,
      }),
    );
    emit(end('b', { status: 529, outcome: 'upstream-error', attempts: 3, outputTokens: undefined }));

    const operation = {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-sonnet-5',
      'claude_guard.route': 'chat',
    };
    const durations = await otel.reader.points('gen_ai.client.operation.duration');
    expect(durations.map((p) => [p.attributes, (p.value as { sum: number }).sum])).toEqual([
      [operation, 1.2],
      [{ ...operation, 'error.type': 'upstream-error' }, 1.2],
    ]);
    const tokens = await otel.reader.points('gen_ai.client.token.usage');
    expect(tokens.map((p) => [p.attributes['gen_ai.token.type'], (p.value as { sum: number }).sum])).toEqual([
      ['input', 118],
      ['output', 6],
    ]);
    const firstChunk = await otel.reader.points('gen_ai.client.operation.time_to_first_chunk');
    expect(firstChunk.map((p) => (p.value as { sum: number }).sum)).toEqual([0.3]);
  });

  it("records the guard's own metrics with low-cardinality attributes only", async () => {
    const { guard, emit, breakers } = scriptedGuard();
    createOtelMetrics({ guard });
    breakers.push({ key: 'chat', state: 'open' }, { key: 'proxy', state: 'half-open' });
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
    expect(await otel.reader.points('claude_guard.requests.in_flight')).toEqual([
      { attributes: { 'claude_guard.route': 'chat' }, value: 1 },
    ]);
    emit({ type: 'breaker-open', key: 'chat' });
    emit({ type: 'breaker-rejected', route: 'chat', key: 'chat', requestId: 'b' });
    emit({ type: 'retry-budget-rejected', route: 'chat', requestId: 'a' });
    emit({ type: 'deadline-exceeded', route: 'chat', requestId: 'c', source: 'route-default', budgetMs: 100 });
    emit(end('a', { attempts: 2 }));
    emit(end('b', { status: 503, outcome: 'breaker-open', attempts: 0 }));
    emit(end('c', { status: 504, outcome: 'deadline-exceeded', attempts: 0 }));
    emit(end('d', { status: 499, outcome: 'client-aborted' }));

    const points = async (name: string) => (await otel.reader.points(name)).map((p) => [p.attributes, p.value]);
    expect(await points('claude_guard.retries')).toEqual([
      [{ 'claude_guard.route': 'chat', 'claude_guard.retry.reason': 'overloaded_error' }, 1],
    ]);
    expect(await points('claude_guard.upstream.attempts')).toEqual([[{ 'claude_guard.route': 'chat' }, 3]]);
    expect(await points('claude_guard.breaker.state')).toEqual([
      [{ 'claude_guard.breaker.key': 'chat' }, 1],
      [{ 'claude_guard.breaker.key': 'proxy' }, 2],
    ]);
    expect(await points('claude_guard.breaker.transitions')).toEqual([
      [{ 'claude_guard.breaker.key': 'chat', 'claude_guard.breaker.state': 'open' }, 1],
    ]);
    expect(await points('claude_guard.breaker.rejections')).toEqual([
      [{ 'claude_guard.route': 'chat', 'claude_guard.breaker.key': 'chat' }, 1],
    ]);
    expect(await points('claude_guard.retry_budget.rejections')).toEqual([[{ 'claude_guard.route': 'chat' }, 1]]);
    expect(await points('claude_guard.deadline.exceeded')).toEqual([
      [{ 'claude_guard.route': 'chat', 'claude_guard.deadline.source': 'route-default' }, 1],
    ]);
    expect(await points('claude_guard.client.disconnects')).toEqual([[{ 'claude_guard.route': 'chat' }, 1]]);
    expect(await points('claude_guard.requests.in_flight')).toEqual([[{ 'claude_guard.route': 'chat' }, 0]]);
    const requests = await points('claude_guard.requests');
    expect(requests).toContainEqual([
      {
        'claude_guard.route': 'chat',
        'gen_ai.request.model': 'claude-sonnet-5',
        'claude_guard.outcome': 'breaker-open',
        'claude_guard.status_class': '5xx',
      },
      1,
    ]);
    // Never a request id among any instrument's attributes.
    for (const name of OTEL_METRIC_NAMES) {
      for (const point of await otel.reader.points(name)) {
        expect(Object.values(point.attributes)).not.toContain('a');
        expect(Object.keys(point.attributes).some((key) => key.includes('request_id'))).toBe(false);
      }
    }
  });

  it('fleet mode: counts store-degraded events and observes whether the store answers', async () => {
    const { guard, emit, store } = scriptedGuard();
    const metrics = createOtelMetrics({ guard });
    const points = async (name: string) => (await otel.reader.points(name)).map((p) => p.value);
    expect(await points('claude_guard.store.connected')).toEqual([1]);
    store.shared = true;
    store.connected = false;
    emit({ type: 'store-degraded', reason: 'StoreUnavailableError' });
    expect(await points('claude_guard.store.connected')).toEqual([0]);
    expect(await points('claude_guard.store.degraded')).toEqual([1]);
    store.connected = true;
    expect(await points('claude_guard.store.connected')).toEqual([1]);
    metrics.close();
  });

  it('stops listening on close', () => {
    const { guard, listeners } = scriptedGuard();
    const metrics = createOtelMetrics({ guard: [guard] });
    expect(listeners.size).toBe(1);
    metrics.close();
    expect(listeners.size).toBe(0);
  });
});

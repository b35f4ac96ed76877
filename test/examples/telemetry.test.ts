import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startExpressExample } from '../../examples/express/src/start.js';
import { startHonoExample } from '../../examples/hono/src/start.js';

const silent = { info: () => {} };
const EXAMPLES = [
  ['express', startExpressExample],
  ['hono', startHonoExample],
] as const;
type Running = Awaited<ReturnType<(typeof EXAMPLES)[number][1]>>;

// What must never leave the process in telemetry: the guard's key, the prompt and the completion (the fake
// answers with the prompt's own words, so the marker is in both).
const API_KEY = 'sk-ant-api03-EXAMPLEtelemetryKEY0123456789abcdefghijklmnop';
const MARKER = 'zebraquartzmarker';
const PROMPT = `${MARKER} tell me about ${MARKER} please`;

/** Tuning that lets a short script open a breaker and stall a stream. */
const TUNING = {
  PORT: '0',
  FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0',
  CLAUDE_GUARD_MAX_ATTEMPTS: '3',
  CLAUDE_GUARD_BREAKER_VOLUME: '3',
  CLAUDE_GUARD_BREAKER_ERROR_PERCENT: '50',
  CLAUDE_GUARD_BREAKER_RESET_MS: '60000',
  CLAUDE_GUARD_STREAM_IDLE_MS: '300',
};

type Family = ReturnType<typeof parsePrometheusTextFormat>[number];

function value(families: Family[], name: string, labels: Record<string, string> = {}): number {
  const family = families.find((candidate) => candidate.name === name);
  return (family?.metrics ?? [])
    .filter((sample) => Object.entries(labels).every(([key, expected]) => sample.labels?.[key] === expected))
    .reduce((sum, sample) => sum + Number(sample.value ?? 0), 0);
}

const post = (url: string, path: string, body: unknown) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const message = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-sonnet-5',
  max_tokens: 32,
  messages: [{ role: 'user', content: PROMPT }],
  ...extra,
});

/** Runs the scripted faults the metrics below count. */
async function scriptFaults(app: Running, fake: FakeAnthropic) {
  // /chat: one clean answer, one after an overloaded attempt, one stream that stalls after its answer began
  // (2 failures in 5 calls: its breaker stays closed).
  expect((await post(app.url, '/chat', { message: PROMPT })).status).toBe(200);
  fake.enqueue(529);
  expect((await post(app.url, '/chat', { message: PROMPT })).status).toBe(200);
  fake.enqueue({ kind: 'stall', afterEvents: 4 });
  const stalled = await post(app.url, '/chat', { message: PROMPT, stream: true });
  expect(stalled.status).toBe(200);
  await stalled.text(); // the stall ends it with an in-band error event
  // /v1/messages: an outage; the third failed attempt opens its breaker, the next request is refused without an
  // upstream call.
  fake.enqueue(500, 500, 500);
  expect((await post(app.url, '/v1/messages', message())).status).toBeGreaterThanOrEqual(500);
  const refused = await post(app.url, '/v1/messages', message());
  expect(refused.status).toBe(503);
}

/** A small OTLP/HTTP receiver: keeps every export's path, content type and body. */
async function otlpReceiver() {
  const received: { path: string; contentType: string; body: Buffer }[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        body: Buffer.concat(chunks),
      });
      const json = (req.headers['content-type'] ?? '').includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface OtlpSpan {
  name: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

function spansOf(bodies: unknown[]): OtlpSpan[] {
  return bodies.flatMap((body) =>
    ((body as { resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[] }).resourceSpans ?? []).flatMap((rs) =>
      (rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? []),
    ),
  );
}

function metricNamesOf(bodies: unknown[]): string[] {
  return bodies.flatMap((body) =>
    (
      (body as { resourceMetrics?: { scopeMetrics?: { metrics?: { name: string }[] }[] }[] }).resourceMetrics ?? []
    ).flatMap((rm) => (rm.scopeMetrics ?? []).flatMap((sm) => (sm.metrics ?? []).map((metric) => metric.name))),
  );
}

function expectNoSecrets(text: string) {
  for (const secret of [API_KEY, 'EXAMPLEtelemetryKEY', MARKER]) expect(text).not.toContain(secret);
}

describe.each(EXAMPLES)('examples/%s telemetry', (_name, start) => {
  let app: Running | undefined;
  let fake: FakeAnthropic | undefined;
  let receiver: Awaited<ReturnType<typeof otlpReceiver>> | undefined;
  afterEach(async () => {
    await app?.close();
    await fake?.close();
    await receiver?.close();
    app = fake = receiver = undefined;
  });

  /** The example on a fake upstream of the test's own, with a real-looking key (the SDK reads it from process.env). */
  async function startOnFake(env: Record<string, string>) {
    fake = await createFakeAnthropic({ replyWords: 12, tokenDelayMs: 0 });
    vi.stubEnv('ANTHROPIC_API_KEY', API_KEY);
    vi.stubEnv('ANTHROPIC_BASE_URL', fake.url);
    app = await start({ ...TUNING, ANTHROPIC_API_KEY: API_KEY, ANTHROPIC_BASE_URL: fake.url, ...env }, silent);
    return { app, fake };
  }

  it('serves GET /metrics in the Prometheus text format, counting scripted faults', async () => {
    const { app, fake } = await startOnFake({});
    await scriptFaults(app, fake);
    const response = await fetch(`${app.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const families = parsePrometheusTextFormat(text);

    expect(value(families, 'claude_guard_requests_total', { route: 'chat', outcome: 'ok' })).toBe(2);
    expect(value(families, 'claude_guard_requests_total', { route: 'chat', outcome: 'stream-stalled' })).toBe(1);
    expect(value(families, 'claude_guard_requests_total', { route: 'proxy', outcome: 'breaker-open' })).toBe(1);
    expect(value(families, 'claude_guard_requests_total', { route: 'proxy' })).toBe(2);
    expect(value(families, 'claude_guard_retries_total', { route: 'chat', reason: 'overloaded_error' })).toBe(1);
    expect(value(families, 'claude_guard_retries_total', { route: 'proxy', reason: 'api_error' })).toBe(2);
    expect(value(families, 'claude_guard_stream_stalls_total', { route: 'chat' })).toBe(1);
    expect(value(families, 'claude_guard_breaker_state', { key: 'proxy' })).toBe(1);
    expect(value(families, 'claude_guard_breaker_state', { key: 'chat' })).toBe(0);
    expect(value(families, 'claude_guard_breaker_transitions_total', { key: 'proxy', to: 'open' })).toBe(1);
    expect(value(families, 'claude_guard_breaker_rejections_total', { route: 'proxy', key: 'proxy' })).toBe(1);
    // Upstream attempts: chat 1 + 2 + 1, proxy 3; the refused request made none.
    expect(value(families, 'claude_guard_upstream_attempts_total', { route: 'chat' })).toBe(4);
    expect(value(families, 'claude_guard_upstream_attempts_total', { route: 'proxy' })).toBe(3);
    expect(fake.requests).toHaveLength(7);
    expect(value(families, 'claude_guard_tokens_total', { route: 'chat', type: 'output' })).toBeGreaterThan(0);
    expect(value(families, 'claude_guard_in_flight')).toBe(0);
    expectNoSecrets(text);
  });

  it('exports traces and metrics over OTLP/HTTP JSON to the configured endpoint, free of secrets', async () => {
    receiver = await otlpReceiver();
    const running = await startOnFake({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_SERVICE_NAME: 'claude-guard-test',
    });
    await scriptFaults(running.app, running.fake);
    await running.app.close(); // flushes both providers
    app = undefined;

    const traces = receiver.received.filter((r) => r.path === '/v1/traces');
    const metrics = receiver.received.filter((r) => r.path === '/v1/metrics');
    expect(traces.length).toBeGreaterThan(0);
    expect(metrics.length).toBeGreaterThan(0);
    expect(traces.every((r) => r.contentType.startsWith('application/json'))).toBe(true);
    const traceBodies = traces.map((r) => JSON.parse(r.body.toString('utf8')) as unknown);
    const spans = spansOf(traceBodies);
    // The SDK's own spans, one per upstream attempt, and the guard's: one per request, one per attempt.
    expect(spans.filter((span) => span.name === 'anthropic.messages.create').length).toBe(running.fake.requests.length);
    expect(spans.filter((span) => span.name === 'claude-guard chat')).toHaveLength(3);
    expect(spans.filter((span) => span.name === 'claude-guard proxy')).toHaveLength(2);
    expect(spans.filter((span) => span.name.startsWith('chat ')).length).toBe(running.fake.requests.length);
    expect(JSON.stringify(traceBodies)).toContain('claude-guard-test');
    const names = metricNamesOf(metrics.map((r) => JSON.parse(r.body.toString('utf8')) as unknown));
    expect(names).toEqual(
      expect.arrayContaining([
        'gen_ai.client.operation.duration',
        'gen_ai.client.token.usage',
        'claude_guard.requests',
        'claude_guard.retries',
        'claude_guard.breaker.state',
      ]),
    );
    for (const { body } of receiver.received) expectNoSecrets(body.toString('utf8'));
  });

  it('exports over OTLP/HTTP protobuf when asked, and nothing without an endpoint', async () => {
    receiver = await otlpReceiver();
    const first = await startOnFake({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    });
    expect((await post(first.app.url, '/chat', { message: PROMPT })).status).toBe(200);
    await first.app.close();
    await first.fake.close();
    app = fake = undefined;
    const paths = receiver.received.map((r) => `${r.path} ${r.contentType}`);
    expect(paths).toEqual(
      expect.arrayContaining(['/v1/traces application/x-protobuf', '/v1/metrics application/x-protobuf']),
    );
    // Protobuf carries strings as they are: a byte search finds any that leaked.
    for (const { body } of receiver.received) expectNoSecrets(body.toString('latin1'));

    const before = receiver.received.length;
    const second = await startOnFake({});
    expect((await post(second.app.url, '/chat', { message: PROMPT })).status).toBe(200);
    await second.app.close();
    app = undefined;
    expect(receiver.received.length).toBe(before);
  });

  it('refuses an OTLP protocol it cannot speak, naming the variable', async () => {
    await expect(
      startOnFake({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    ).rejects.toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL must be http\/json or http\/protobuf/);
  });
});

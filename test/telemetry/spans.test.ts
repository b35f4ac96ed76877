import { createPrometheusMetrics } from '@claude-guard/telemetry';
import { createOtelInstrumentation, createOtelMetrics } from '@claude-guard/telemetry/otel';
import { context, metrics, propagation, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ADAPTERS,
  API_KEY,
  directClient,
  manualClock,
  MODEL,
  params,
  PROMPT,
  SseReader,
  startStack,
  type Stack,
  type StackOptions,
} from '../support/index.js';

// The guard's spans on the real OpenTelemetry SDK (in-memory exporter, AsyncLocalStorage context, the W3C
// propagator), through both adapters on a real socket, the official SDK calling fake-anthropic over HTTP: the
// SDK's own `anthropic.messages.create` spans are there too, and must nest under the guard's attempt spans.

const SDK_SPAN = 'anthropic.messages.create';
const REQUEST_SPAN = 'claude-guard chat';
const ATTEMPT_SPAN = `chat ${MODEL}`;

/** Counts spans started and ended: an attempt or request span left open is a leak. */
class OpenSpans implements SpanProcessor {
  open = 0;
  onStart(): void {
    this.open += 1;
  }
  onEnd(): void {
    this.open -= 1;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The real SDK, registered globally as an application would (the Anthropic SDK reads the global provider). */
function registerOtel() {
  const exporter = new InMemorySpanExporter();
  const open = new OpenSpans();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [open, new SimpleSpanProcessor(exporter)] });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    exporter,
    open,
    meterProvider,
    spans: (): ReadableSpan[] => exporter.getFinishedSpans(),
    /** Every metric data point exported so far, as JSON. */
    async metricsDump(): Promise<string> {
      await reader.forceFlush();
      return JSON.stringify(metricExporter.getMetrics());
    },
    async dispose() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
}

function named(spans: readonly ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((span) => span.name === name);
}

function only(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = named(spans, name);
  expect(found.map((span) => span.name)).toEqual([name]);
  return found[0]!;
}

const isChildOf = (child: ReadableSpan, parent: ReadableSpan): boolean =>
  child.parentSpanContext?.spanId === parent.spanContext().spanId &&
  child.spanContext().traceId === parent.spanContext().traceId;

/** Everything a span holds that could carry text: names, attributes, events and their attributes, status. */
const dumpSpans = (spans: readonly ReadableSpan[]): string =>
  JSON.stringify(
    spans.map((span) => ({
      name: span.name,
      attributes: span.attributes,
      events: span.events.map((event) => ({ name: event.name, attributes: event.attributes })),
      status: span.status,
      links: span.links,
      resource: span.resource.attributes,
    })),
  );

describe.each(ADAPTERS)('OpenTelemetry spans through %s', (adapter) => {
  let otel: ReturnType<typeof registerOtel>;
  let h: Stack | undefined;

  beforeEach(() => {
    otel = registerOtel();
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await otel.dispose();
  });

  async function start(chat: StackOptions['chat'] = {}, guard: StackOptions['guard'] = {}) {
    h = await startStack({
      adapter,
      fake: { replyWords: 6, tokenDelayMs: 0 },
      guard: { ...guard, instrumentation: createOtelInstrumentation() },
      chat,
    });
    return h;
  }

  /** Waits for the request's log line: the record has ended, so has its span. */
  async function ended(stack: Stack, n: number): Promise<void> {
    await stack.waitForLogs(n);
  }

  it('a 529 then success: one request span, two CLIENT attempt spans on the GenAI conventions, the SDK span under each', async () => {
    const stack = await start();
    stack.fake.enqueue(529);
    const result = await stack.chat({ 'x-request-id': 'otel-retry-1' });
    expect(result.status).toBe(200);
    await ended(stack, 1);
    const spans = otel.spans();

    const request = only(spans, REQUEST_SPAN);
    expect(request.kind).toBe(SpanKind.INTERNAL);
    expect(request.parentSpanContext).toBeUndefined();
    expect(request.attributes).toMatchObject({
      'claude_guard.route': 'chat',
      'claude_guard.request_id': 'otel-retry-1',
      'claude_guard.outcome': 'ok',
      'claude_guard.attempts': 2,
      'http.response.status_code': 200,
      'gen_ai.request.model': MODEL,
    });
    expect(request.status.code).toBe(SpanStatusCode.UNSET);
    const retry = request.events.find((event) => event.name === 'claude_guard.retry');
    expect(retry?.attributes).toMatchObject({
      'claude_guard.attempt': 1,
      'claude_guard.retry.reason': 'overloaded_error',
    });

    const attempts = named(spans, ATTEMPT_SPAN);
    expect(attempts).toHaveLength(2);
    // The first attempt is no resend; the second is the first resend.
    const failed = attempts.find((span) => span.attributes['http.request.resend_count'] === undefined)!;
    const answered = attempts.find((span) => span.attributes['http.request.resend_count'] === 1)!;
    expect(failed.status.code).toBe(SpanStatusCode.ERROR);
    expect(answered.status.code).toBe(SpanStatusCode.UNSET);
    for (const attempt of [failed, answered]) {
      expect(attempt.kind).toBe(SpanKind.CLIENT);
      expect(isChildOf(attempt, request)).toBe(true);
      expect(attempt.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.request.model': MODEL,
        'gen_ai.request.max_tokens': expect.any(Number),
        'gen_ai.request.stream': false,
      });
    }
    expect(failed.attributes).toMatchObject({ 'error.type': 'overloaded_error' });
    expect(answered.attributes).toMatchObject({
      'http.request.resend_count': 1,
      'http.response.status_code': 200,
      'gen_ai.response.model': MODEL,
      'gen_ai.response.finish_reasons': ['end_turn'],
      'gen_ai.usage.output_tokens': 6,
    });
    expect(answered.attributes['gen_ai.response.id']).toMatch(/^msg_/);
    expect(answered.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(answered.attributes['error.type']).toBeUndefined();

    // The SDK's own span, one per upstream call, each under its attempt: one trace, no orphan, no duplicate.
    const sdkSpans = named(spans, SDK_SPAN);
    expect(sdkSpans).toHaveLength(2);
    expect(sdkSpans.filter((span) => isChildOf(span, failed))).toHaveLength(1);
    expect(sdkSpans.filter((span) => isChildOf(span, answered))).toHaveLength(1);
    const traceIds = new Set(spans.map((span) => span.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    // The SDK sent its span's trace context upstream: the fake saw this trace.
    expect(stack.fake.requests[1]!.headers['traceparent']).toContain(request.spanContext().traceId);
    expect(otel.open.open).toBe(0);
  });

  it('a call on a guard.middleware() client: the same request span and attempt spans, with the answer on the attempt', async () => {
    const stack = await start();
    const client = directClient(stack.guard, stack.guardClient, 'chat');
    stack.fake.enqueue(529);
    const message = await client.messages.create(params());
    expect(message.type).toBe('message');
    await ended(stack, 1);
    const spans = otel.spans();
    const request = only(spans, REQUEST_SPAN);
    expect(request.attributes).toMatchObject({ 'claude_guard.route': 'chat', 'claude_guard.attempts': 2 });
    const attempts = named(spans, ATTEMPT_SPAN);
    expect(attempts).toHaveLength(2);
    for (const attempt of attempts) expect(isChildOf(attempt, request)).toBe(true);
    const answered = attempts.find((span) => span.attributes['http.request.resend_count'] === 1)!;
    expect(answered.attributes).toMatchObject({
      'http.response.status_code': 200,
      'gen_ai.response.id': message.id,
      'gen_ai.usage.output_tokens': message.usage.output_tokens,
    });
    expect(otel.open.open).toBe(0);
  });

  it('a stream: its attempt span lasts to the end of the body, with usage, finish reason and the commit event', async () => {
    const stack = await start();
    const response = await stack.post('/chat', { message: PROMPT, stream: true });
    expect(response.status).toBe(200);
    const reader = new SseReader(response.body);
    const events = await reader.rest();
    expect(events.at(-1)?.event).toBe('done');
    await ended(stack, 1);
    const spans = otel.spans();
    const request = only(spans, REQUEST_SPAN);
    expect(request.attributes).toMatchObject({ 'claude_guard.stream': true, 'claude_guard.outcome': 'ok' });
    expect(request.events.map((event) => event.name)).toContain('claude_guard.stream_committed');
    const attempt = only(spans, ATTEMPT_SPAN);
    expect(isChildOf(attempt, request)).toBe(true);
    expect(attempt.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.response.model': MODEL,
      'gen_ai.response.finish_reasons': ['end_turn'],
      'gen_ai.usage.output_tokens': 6,
    });
    expect(attempt.attributes['gen_ai.response.id']).toMatch(/^msg_/);
    expect(attempt.attributes['gen_ai.response.time_to_first_chunk']).toEqual(expect.any(Number));
    // The attempt ended with its body, not at the commit: after the request's commit event.
    const committed = request.events.find((event) => event.name === 'claude_guard.stream_committed')!;
    expect(toNanos(attempt.endTime)).toBeGreaterThanOrEqual(toNanos(committed.time));
    expect(isChildOf(only(spans, SDK_SPAN), attempt)).toBe(true);
    expect(otel.open.open).toBe(0);
  });

  it('a breaker rejection: a request span with the rejection and error.type, and no attempt span', async () => {
    const stack = await start({
      retry: { maxAttempts: 1 },
      breaker: { volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeout: 60_000 },
    });
    stack.fake.enqueue(500);
    expect((await stack.chat()).status).toBeGreaterThanOrEqual(500);
    const refused = await stack.chat({ 'x-request-id': 'otel-refused' });
    expect(refused.status).toBe(503);
    await ended(stack, 2);
    const spans = otel.spans();
    const requests = named(spans, REQUEST_SPAN);
    expect(requests).toHaveLength(2);
    const rejected = requests.find((span) => span.attributes['claude_guard.request_id'] === 'otel-refused')!;
    expect(rejected.attributes).toMatchObject({
      'claude_guard.outcome': 'breaker-open',
      'claude_guard.attempts': 0,
      'http.response.status_code': 503,
      'error.type': 'breaker-open',
    });
    expect(rejected.status.code).toBe(SpanStatusCode.ERROR);
    expect(rejected.events.map((event) => [event.name, event.attributes])).toContainEqual([
      'claude_guard.breaker_rejected',
      { 'claude_guard.breaker.key': 'chat' },
    ]);
    // Only the first request reached the upstream: one attempt span, one SDK span, both under it.
    const attempts = named(spans, ATTEMPT_SPAN);
    expect(attempts).toHaveLength(1);
    expect(attempts.every((attempt) => !isChildOf(attempt, rejected))).toBe(true);
    expect(attempts[0]!.attributes['error.type']).toBe('api_error');
    expect(named(spans, SDK_SPAN)).toHaveLength(1);
    expect(otel.open.open).toBe(0);
  });

  it("joins the caller's trace from traceparent, and leaks no context into the next request", async () => {
    const stack = await start();
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const parentId = 'b7ad6b7169203331';
    expect((await stack.chat({ traceparent: `00-${traceId}-${parentId}-01`, 'x-request-id': 'joined' })).status).toBe(
      200,
    );
    expect((await stack.chat({ 'x-request-id': 'after' })).status).toBe(200);
    await ended(stack, 2);
    const spans = otel.spans();
    const requests = named(spans, REQUEST_SPAN);
    const joined = requests.find((span) => span.attributes['claude_guard.request_id'] === 'joined')!;
    const after = requests.find((span) => span.attributes['claude_guard.request_id'] === 'after')!;
    expect(joined.spanContext().traceId).toBe(traceId);
    expect(joined.parentSpanContext).toMatchObject({ spanId: parentId, isRemote: true });
    // The next request on the same server starts a trace of its own: nothing of the first stayed active.
    expect(after.parentSpanContext).toBeUndefined();
    expect(after.spanContext().traceId).not.toBe(traceId);
    const attemptOfAfter = named(spans, ATTEMPT_SPAN).find((span) => isChildOf(span, after));
    expect(attemptOfAfter).toBeDefined();
    // Nor in the test's own context, once the requests are over.
    expect(trace.getActiveSpan()).toBeUndefined();
    expect(otel.open.open).toBe(0);
  });

  it('a stall after the answer began: the stall event, the attempt span ended as stream-stalled', async () => {
    // The guard's timers on a hand-driven clock: the idle timeout fires when the test says, not on a loaded machine's time.
    const clock = manualClock();
    const stack = await start({ stream: { idleTimeoutMs: 1_000, heartbeatMs: 60_000 } }, { clock });
    stack.fake.enqueue({ kind: 'stall', afterEvents: 4 });
    const response = await stack.post('/chat', { message: PROMPT, stream: true });
    expect(response.status).toBe(200);
    const reading = new SseReader(response.body).rest();
    // Until the guard waits on the silent upstream: each step is one idle timeout, a stall fires within one.
    await vi.waitFor(
      () => {
        clock.advance(1_000);
        expect(stack.events.some((event) => event.type === 'stream-stalled')).toBe(true);
      },
      { timeout: 10_000, interval: 10 },
    );
    const events = await reading;
    expect(events.at(-1)?.event).toBe('error');
    await ended(stack, 1);
    const spans = otel.spans();
    const request = only(spans, REQUEST_SPAN);
    expect(request.attributes).toMatchObject({ 'claude_guard.outcome': 'stream-stalled', 'claude_guard.stream': true });
    expect(request.events.map((event) => [event.name, event.attributes])).toContainEqual([
      'claude_guard.stream_stalled',
      { 'claude_guard.attempt': 0, 'claude_guard.stream.stall_phase': 'idle' },
    ]);
    const attempt = only(spans, ATTEMPT_SPAN);
    expect(attempt.status.code).toBe(SpanStatusCode.ERROR);
    expect(attempt.attributes['error.type']).toBe('stream-stalled');
    expect(otel.open.open).toBe(0);
  });

  it('a client that leaves mid-stream: a disconnect event, status 499, no error on either span', async () => {
    const clock = manualClock();
    const stack = await start({}, { clock });
    // The upstream goes silent after its first events, and the guard's clock never moves: only the client ends it.
    stack.fake.enqueue({ kind: 'stall', afterEvents: 4 });
    const leave = new AbortController();
    const response = await stack.post('/chat', { message: PROMPT, stream: true }, { signal: leave.signal });
    const reader = new SseReader(response.body);
    await reader.until((event) => event.event === 'text');
    leave.abort();
    await reader.cancel();
    await ended(stack, 1);
    const spans = otel.spans();
    const request = only(spans, REQUEST_SPAN);
    expect(request.attributes).toMatchObject({
      'http.response.status_code': 499,
      'claude_guard.outcome': 'client-aborted',
    });
    expect(request.events.map((event) => event.name)).toContain('claude_guard.client_disconnected');
    expect(request.status.code).toBe(SpanStatusCode.UNSET);
    const attempt = only(spans, ATTEMPT_SPAN);
    expect(attempt.status.code).toBe(SpanStatusCode.UNSET);
    expect(attempt.attributes['error.type']).toBeUndefined();
    expect(otel.open.open).toBe(0);
  });

  it('puts no API key, prompt, completion or stack in any span, attribute, event or metric', async () => {
    const stack = await start();
    const prometheus = createPrometheusMetrics({ guard: stack.guard });
    const otelMetrics = createOtelMetrics({ guard: stack.guard, meterProvider: otel.meterProvider });
    try {
      stack.fake.enqueue(529);
      const answered = await stack.chat();
      expect(answered.status).toBe(200);
      const completion = answered.body.text as string;
      expect(completion.length).toBeGreaterThan(0);
      const streamed = await stack.post('/chat', { message: PROMPT, stream: true });
      await new SseReader(streamed.body).rest();
      stack.fake.enqueue(400);
      expect((await stack.chat()).status).toBe(400);
      await ended(stack, 3);

      const texts = [dumpSpans(otel.spans()), await otel.metricsDump(), await prometheus.metrics()];
      expect(texts[0]).toContain('claude-guard chat'); // the sweep reads what it means to
      for (const text of texts) {
        expect(text).not.toContain(API_KEY);
        for (const word of PROMPT.split(' ')) expect(text).not.toContain(word);
        for (const word of completion.split(/\W+/).filter((w) => w.length > 3)) expect(text).not.toContain(word);
        // No stack trace from upstream or the guard: no `at file:line` frames, no exception stacks.
        expect(text).not.toMatch(/\bat .+:\d+:\d+/);
        expect(text).not.toContain('exception.stacktrace');
      }
    } finally {
      otelMetrics.close();
      prometheus.close();
    }
  });
});

function toNanos(time: readonly [number, number]): number {
  return time[0] * 1e9 + time[1];
}

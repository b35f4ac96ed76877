import Anthropic from '@anthropic-ai/sdk';
import type { GuardEvent, RequestLogRecord } from '@claude-guard/core';
import { context, ProxyTracerProvider, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NOOP_REQUEST_SPAN, type Instrumentation, type RequestSpan, type RequestStartInfo } from './instrumentation.js';
import { createOtelInstrumentation } from './otel-instrumentation.js';
import { isChildOf, registerTestOtel, spanNamed } from './testing/otel.js';

const MODEL = 'claude-sonnet-5';
const API_KEY = 'sk-ant-api03-TESTKEYabcdefghijklmnopqrstuvwxyz0123456789';
const PROMPT = 'PROMPT-TEXT-that-must-stay-private';
const COMPLETION = 'COMPLETION-TEXT-that-must-stay-private';
const ROUTE = 'chat';
const REQUEST_ID = 'req-telemetry-1';
const params = { model: MODEL, max_tokens: 64, messages: [{ role: 'user' as const, content: PROMPT }] };

const message = {
  id: 'msg_01TEST',
  type: 'message',
  role: 'assistant',
  model: MODEL,
  content: [{ type: 'text', text: COMPLETION }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 11, output_tokens: 6, cache_read_input_tokens: 100, cache_creation_input_tokens: 7 },
};

function sse(events: object[]): string {
  return events
    .map((event) => `event: ${(event as { type: string }).type}\ndata: ${JSON.stringify(event)}\n\n`)
    .join('');
}

const STREAM = sse([
  {
    type: 'message_start',
    message: { ...message, content: [], stop_reason: null, usage: { ...message.usage, output_tokens: 1 } },
  },
  { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
  { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: COMPLETION } },
  { type: 'content_block_stop', index: 0 },
  { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 6 } },
  { type: 'message_stop' },
]);

/** The official SDK on a fetch that answers like the API, keeping the headers each request carried. */
function sdkClient(answers: (() => Response)[]) {
  const sent: Headers[] = [];
  const client = new Anthropic({
    apiKey: API_KEY,
    baseURL: 'http://upstream.test',
    maxRetries: 0,
    fetch: (_url, init) => {
      sent.push(new Headers(init?.headers));
      const next = answers.shift();
      return Promise.resolve(next ? next() : new Response('{}', { status: 500 }));
    },
  });
  return { client, sent };
}

const ok = () =>
  new Response(JSON.stringify(message), { headers: { 'content-type': 'application/json', 'request-id': 'req_up_1' } });
const overloaded = () =>
  new Response(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }), {
    status: 529,
    headers: { 'content-type': 'application/json' },
  });
const streamed = () => new Response(STREAM, { headers: { 'content-type': 'text/event-stream' } });

function record(fields: Partial<RequestLogRecord> = {}): RequestLogRecord {
  return {
    route: ROUTE,
    requestId: REQUEST_ID,
    upstreamRequestId: 'req_up_1',
    status: 200,
    outcome: 'ok',
    attempts: 1,
    durationMs: 10,
    model: MODEL,
    stream: false,
    outputTokens: 6,
    sdkVersion: '1.14.0',
    ...fields,
  } as RequestLogRecord;
}

/** With a provider registered every request gets a span: this view of an instrumentation says so. */
function everySpan(otelInstrumentation: Instrumentation): { startRequest(info: RequestStartInfo): RequestSpan } {
  return {
    startRequest(info) {
      const span = otelInstrumentation.startRequest(info);
      if (span === undefined) throw new Error('a registered provider must give every request a span');
      return span;
    },
  };
}

const headers = (entries: Record<string, string> = {}) => new Headers(entries);
const event = (fields: Record<string, unknown>) => ({ route: ROUTE, requestId: REQUEST_ID, ...fields }) as GuardEvent;

describe('createOtelInstrumentation', () => {
  let otel: ReturnType<typeof registerTestOtel>;
  let instrumentation: { startRequest(info: RequestStartInfo): RequestSpan };

  beforeEach(() => {
    otel = registerTestOtel();
    instrumentation = everySpan(createOtelInstrumentation());
  });
  afterEach(async () => {
    await otel.dispose();
  });

  /** What core does around one non-streaming SDK call (guarded-call's createMessage). */
  async function createAttempt(span: RequestSpan, client: Anthropic, attempt: number) {
    const attemptSpan = span.startAttempt({ attempt, model: MODEL, maxTokens: 64, stream: false });
    try {
      const answer = await attemptSpan.run(() => client.messages.create(params, { maxRetries: 0 }));
      attemptSpan.answer({
        status: 200,
        responseId: answer.id,
        responseModel: answer.model,
        stopReason: answer.stop_reason,
        usage: answer.usage,
      });
      attemptSpan.end();
      return answer;
    } catch (error) {
      const status = (error as { status?: number }).status;
      attemptSpan.end({ kind: 'http', errorType: 'overloaded_error', status });
      span.event(event({ type: 'attempt-failed', attempt, kind: 'http', status, transient: true }));
      return undefined;
    }
  }

  it('makes a request span and a CLIENT attempt span on the GenAI conventions, the SDK span nested under it', async () => {
    const { client, sent } = sdkClient([ok]);
    const span = instrumentation.startRequest({ route: ROUTE, requestId: REQUEST_ID, headers: headers() });
    await createAttempt(span, client, 0);
    span.end(record());

    const spans = otel.spans();
    const request = spanNamed(spans, 'claude-guard chat');
    const attempt = spanNamed(spans, `chat ${MODEL}`);
    const sdk = spanNamed(spans, 'anthropic.messages.create');
    expect(request.parentSpanContext).toBeUndefined();
    expect(request.kind).toBe(SpanKind.INTERNAL);
    expect(request.attributes).toMatchObject({
      'claude_guard.route': ROUTE,
      'claude_guard.request_id': REQUEST_ID,
      'claude_guard.outcome': 'ok',
      'claude_guard.attempts': 1,
      'http.response.status_code': 200,
      'gen_ai.request.model': MODEL,
    });
    expect(request.status.code).toBe(SpanStatusCode.UNSET);
    expect(isChildOf(attempt, request)).toBe(true);
    expect(attempt.kind).toBe(SpanKind.CLIENT);
    expect(attempt.attributes).toEqual({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': MODEL,
      'gen_ai.request.max_tokens': 64,
      'gen_ai.request.stream': false,
      'http.response.status_code': 200,
      'gen_ai.response.id': 'msg_01TEST',
      'gen_ai.response.model': MODEL,
      'gen_ai.response.finish_reasons': ['end_turn'],
      // The conventions count cached tokens as input; Anthropic's input_tokens does not.
      'gen_ai.usage.input_tokens': 118,
      'gen_ai.usage.output_tokens': 6,
      'gen_ai.usage.cache_read.input_tokens': 100,
      'gen_ai.usage.cache_creation.input_tokens': 7,
    });
    // The SDK's own span is the attempt's child: no orphan, and the upstream sees the SDK span's context.
    expect(isChildOf(sdk, attempt)).toBe(true);
    expect(sent[0]!.get('traceparent')).toContain(sdk.spanContext().spanId);
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('marks a retried request: a failed attempt with error.type, a retry event with its reason, resend_count', async () => {
    const { client } = sdkClient([overloaded, ok]);
    const span = instrumentation.startRequest({ route: ROUTE, requestId: REQUEST_ID, headers: headers() });
    await createAttempt(span, client, 0);
    span.event(event({ type: 'retry', attempt: 1, delayMs: 250 }));
    await createAttempt(span, client, 1);
    span.end(record({ attempts: 2 }));

    const spans = otel.spans();
    const request = spanNamed(spans, 'claude-guard chat');
    const [first, second] = spans
      .filter((s) => s.name === `chat ${MODEL}`)
      .sort((a, b) => hr(a.startTime) - hr(b.startTime));
    expect(first!.status.code).toBe(SpanStatusCode.ERROR);
    expect(first!.attributes['error.type']).toBe('overloaded_error');
    expect(first!.attributes['http.request.resend_count']).toBeUndefined();
    expect(second!.status.code).toBe(SpanStatusCode.UNSET);
    expect(second!.attributes['http.request.resend_count']).toBe(1);
    expect(request.events.map((e) => [e.name, e.attributes])).toEqual([
      [
        'claude_guard.retry',
        {
          'claude_guard.attempt': 1,
          'claude_guard.retry.delay_ms': 250,
          'claude_guard.retry.reason': 'overloaded_error',
        },
      ],
    ]);
    // Each attempt has the SDK's span under it: two SDK spans, never one spanning both.
    const sdkSpans = spans.filter((s) => s.name === 'anthropic.messages.create');
    expect(sdkSpans.map((s) => [isChildOf(s, first!), isChildOf(s, second!)])).toEqual(
      expect.arrayContaining([
        [true, false],
        [false, true],
      ]),
    );
  });

  it('records a breaker rejection as an event of an erroneous request span with no attempt', () => {
    const span = instrumentation.startRequest({ route: ROUTE, requestId: REQUEST_ID, headers: headers() });
    span.event(event({ type: 'breaker-rejected', key: 'chat' }));
    span.end(record({ status: 503, outcome: 'breaker-open', attempts: 0 }));
    const spans = otel.spans();
    expect(spans.map((s) => s.name)).toEqual(['claude-guard chat']);
    expect(spans[0]!.events.map((e) => [e.name, e.attributes])).toEqual([
      ['claude_guard.breaker_rejected', { 'claude_guard.breaker.key': 'chat' }],
    ]);
    expect(spans[0]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(spans[0]!.attributes['error.type']).toBe('breaker-open');
  });

  it('traces a stream: commit event, time to first chunk, usage from the events, the SDK span nested', async () => {
    let now = 0;
    instrumentation = everySpan(createOtelInstrumentation({ now: () => now }));
    const { client } = sdkClient([streamed]);
    const span = instrumentation.startRequest({ route: ROUTE, requestId: REQUEST_ID, headers: headers() });
    const attemptSpan = span.startAttempt({ attempt: 0, model: MODEL, maxTokens: 64, stream: true });
    const stream = await attemptSpan.run(() => client.messages.create({ ...params, stream: true }));
    now = 420;
    for await (const item of stream) {
      if (item.type === 'message_start') {
        span.event(event({ type: 'stream-committed', attempt: 0, by: 'first-event' }));
        attemptSpan.answer({
          status: 200,
          responseId: item.message.id,
          responseModel: item.message.model,
          usage: item.message.usage,
        });
      }
      if (item.type === 'message_delta') attemptSpan.answer({ stopReason: item.delta.stop_reason, usage: item.usage });
    }
    attemptSpan.end();
    span.end(record({ stream: true }));

    const spans = otel.spans();
    const request = spanNamed(spans, 'claude-guard chat');
    const attempt = spanNamed(spans, `chat ${MODEL}`);
    expect(isChildOf(spanNamed(spans, 'anthropic.messages.create'), attempt)).toBe(true);
    expect(attempt.attributes).toMatchObject({
      'gen_ai.request.stream': true,
      'gen_ai.response.time_to_first_chunk': 0.42,
      'gen_ai.response.finish_reasons': ['end_turn'],
      'gen_ai.usage.output_tokens': 6,
      'gen_ai.usage.input_tokens': 118,
    });
    expect(request.events.map((e) => [e.name, e.attributes])).toEqual([
      [
        'claude_guard.stream_committed',
        { 'claude_guard.stream.committed_by': 'first-event', 'claude_guard.attempt': 0 },
      ],
    ]);
    expect(request.attributes['claude_guard.stream']).toBe(true);
  });

  it('tells a stall and a deadline, with whose budget ran out', () => {
    const span = instrumentation.startRequest({ route: ROUTE, requestId: REQUEST_ID, headers: headers() });
    span.event(event({ type: 'stream-committed', attempt: 0, by: 'heartbeat' }));
    span.startAttempt({ attempt: 0, model: MODEL, maxTokens: 64, stream: true }).end({
      kind: 'stream-stalled',
      errorType: 'api_error',
      status: undefined,
    });
    span.event(event({ type: 'deadline-exceeded', source: 'caller-header', budgetMs: 800 }));
    span.end(record({ stream: true, status: 200, outcome: 'deadline-exceeded' }));
    const spans = otel.spans();
    const attempt = spanNamed(spans, `chat ${MODEL}`);
    expect(attempt.attributes['error.type']).toBe('stream-stalled');
    expect(spanNamed(spans, 'claude-guard chat').events.map((e) => [e.name, e.attributes])).toEqual([
      ['claude_guard.stream_committed', { 'claude_guard.stream.committed_by': 'heartbeat', 'claude_guard.attempt': 0 }],
      ['claude_guard.stream_stalled', { 'claude_guard.attempt': 0 }],
      [
        'claude_guard.deadline_exceeded',
        { 'claude_guard.deadline.source': 'caller-header', 'claude_guard.deadline.budget_ms': 800 },
      ],
    ]);
  });

  it('records a client disconnect as a cancellation, not an error, and ends an attempt core left open', () => {
    const span = instrumentation.startRequest({ route: ROUTE, requestId: REQUEST_ID, headers: headers() });
    span.startAttempt({ attempt: 0, model: MODEL, maxTokens: 64, stream: true });
    span.event(event({ type: 'client-aborted', outputTokens: 3 }));
    span.end(record({ status: 499, outcome: 'client-aborted', stream: true }));
    const spans = otel.spans();
    const request = spanNamed(spans, 'claude-guard chat');
    expect(request.status.code).toBe(SpanStatusCode.UNSET);
    expect(request.events.map((e) => [e.name, e.attributes])).toEqual([
      ['claude_guard.client_disconnected', { 'gen_ai.usage.output_tokens': 3 }],
    ]);
    expect(spanNamed(spans, `chat ${MODEL}`).status.code).toBe(SpanStatusCode.UNSET);

    // A non-streamed request whose client left has no client-aborted event: its 499 tells it.
    otel.exporter.reset();
    const plain = instrumentation.startRequest({ route: ROUTE, requestId: REQUEST_ID, headers: headers() });
    plain.end(record({ status: 499, outcome: 'client-aborted' }));
    expect(otel.spans()[0]!.events.map((e) => e.name)).toEqual(['claude_guard.client_disconnected']);
  });

  it("joins the caller's trace from traceparent, and prefers an active server span", () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const parentId = 'b7ad6b7169203331';
    const span = instrumentation.startRequest({
      route: ROUTE,
      requestId: REQUEST_ID,
      headers: headers({ traceparent: `00-${traceId}-${parentId}-01` }),
    });
    span.end(record());
    const joined = spanNamed(otel.spans(), 'claude-guard chat');
    expect(joined.spanContext().traceId).toBe(traceId);
    expect(joined.parentSpanContext?.spanId).toBe(parentId);
    expect(joined.parentSpanContext?.isRemote).toBe(true);

    otel.exporter.reset();
    const server = trace.getTracer('http').startSpan('POST /v1/messages', { kind: SpanKind.SERVER });
    context.with(trace.setSpan(context.active(), server), () => {
      instrumentation
        .startRequest({
          route: ROUTE,
          requestId: REQUEST_ID,
          headers: headers({ traceparent: `00-${traceId}-${parentId}-01` }),
        })
        .end(record());
    });
    server.end();
    expect(isChildOf(spanNamed(otel.spans(), 'claude-guard chat'), spanNamed(otel.spans(), 'POST /v1/messages'))).toBe(
      true,
    );
  });

  it('puts no API key, prompt or completion in any span, attribute or event', async () => {
    const { client } = sdkClient([overloaded, ok, streamed]);
    const span = instrumentation.startRequest({ route: ROUTE, requestId: API_KEY, headers: headers() });
    await createAttempt(span, client, 0);
    span.event(event({ type: 'retry', attempt: 1, delayMs: 1 }));
    await createAttempt(span, client, 1);
    const attemptSpan = span.startAttempt({ attempt: 2, model: API_KEY, maxTokens: 64, stream: true });
    const stream = await attemptSpan.run(() => client.messages.create({ ...params, stream: true }));
    for await (const item of stream)
      if (item.type === 'message_start')
        attemptSpan.answer({ responseId: API_KEY, responseModel: `${PROMPT} ${COMPLETION}` });
    attemptSpan.end();
    span.end(record({ model: API_KEY }));
    const dump = JSON.stringify(
      otel
        .spans()
        .map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, resource: s.resource.attributes })),
    );
    expect(otel.spans().length).toBeGreaterThanOrEqual(6);
    for (const secret of [API_KEY, 'TESTKEY', PROMPT, COMPLETION]) expect(dump).not.toContain(secret);
  });
});

describe('createOtelInstrumentation without a provider', () => {
  it('hands back no span: nothing recorded, nothing propagated, and the guard builds nothing more', () => {
    const instrumentation = createOtelInstrumentation({ tracerProvider: new ProxyTracerProvider() });
    const span = instrumentation.startRequest({ route: ROUTE, requestId: REQUEST_ID, headers: headers() });
    expect(span).toBeUndefined();
    expect(
      NOOP_REQUEST_SPAN.startAttempt({ attempt: 0, model: MODEL, maxTokens: 1, stream: false }).run(() => 42),
    ).toBe(42);
  });
});

function hr([seconds, nanos]: [number, number]): number {
  return seconds * 1e9 + nanos;
}

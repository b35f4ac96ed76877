import Anthropic from '@anthropic-ai/sdk';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClaudeClient } from './claude-client.js';
import type { GuardEvent } from './events.js';
import { createClaudeGuard, type ClaudeGuard } from './guard.js';
import type { RequestLogRecord } from './logger.js';
import type { ClaudeGuardOptions } from './options.js';
import { testMessage } from './testing/message.js';

// The passthrough alone: a Web Request in, a Response out, against a fake client. No server, no
// adapter, no network.

const KEY = 'sk-ant-api03-proxy-test-key-0123456789abcdef';
const MESSAGE = testMessage({ model: 'claude-sonnet-5', text: 'Hello', inputTokens: 5, outputTokens: 2 });
const STREAM =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-5","usage":{"input_tokens":5,"output_tokens":1}}}\n\n' +
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}\n\n' +
  'event: message_stop\ndata: {"type":"message_stop"}\n\n';

type Answer = 'message' | 'stream' | Error;

/** A client whose `messages.create` answers as told, recording each call. */
function fakeClient(...answers: Answer[]) {
  const calls: { params: Record<string, unknown>; options: Record<string, unknown> }[] = [];
  const create = (params: Record<string, unknown>, options: Record<string, unknown>) => {
    calls.push({ params, options });
    const answer = answers[Math.min(calls.length - 1, answers.length - 1)]!;
    const headers = {
      'request-id': `req_${calls.length}`,
      'anthropic-ratelimit-requests-remaining': '41',
      'x-internal': 'not forwarded',
    };
    const response = (): Promise<Response> =>
      answer instanceof Error
        ? Promise.reject(answer)
        : Promise.resolve(
            answer === 'stream'
              ? new Response(STREAM, { headers: { ...headers, 'content-type': 'text/event-stream' } })
              : Response.json(MESSAGE, { headers }),
          );
    const data = async (): Promise<unknown> => (await response()).json();
    // The APIPromise surface the guard uses: the response (headers), and the parsed body by awaiting it.
    return {
      asResponse: response,
      then: (onValue: (value: unknown) => unknown, onError: (error: unknown) => unknown) =>
        data().then(onValue, onError),
    };
  };
  return { client: { apiKey: KEY, messages: { create } } as unknown as ClaudeClient, calls };
}

let guard: ClaudeGuard | undefined;
let lines: RequestLogRecord[];
let events: GuardEvent[];

function proxyWith(client: ClaudeClient, options: Omit<ClaudeGuardOptions, 'client'> = {}) {
  lines = [];
  events = [];
  guard = createClaudeGuard({
    client,
    deadline: { reserveMs: 0 },
    retry: { maxAttempts: 1 },
    logger: { info: (line) => lines.push(line as RequestLogRecord) },
    onEvent: (event) => events.push(event),
    ...options,
  });
  return guard.route({ route: 'proxy', proxy: { maxBodyBytes: 1_000 } });
}

function post(body: BodyInit | null, headers: Record<string, string> = {}): Request {
  const stream = body instanceof ReadableStream;
  return new Request('http://localhost/v1/messages', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    ...(stream ? { duplex: 'half' } : {}),
  });
}

const VALID = { model: 'claude-sonnet-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  guard?.close();
  guard = undefined;
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('the passthrough (route.proxy)', () => {
  it.each([
    [
      'a content-type other than JSON',
      post(JSON.stringify(VALID), { 'content-type': 'text/plain' }),
      415,
      'invalid_request_error',
      'content-type must be application/json',
      'close',
    ],
    [
      'a body over the limit',
      post(JSON.stringify({ ...VALID, pad: 'x'.repeat(2_000) })),
      413,
      'request_too_large',
      "The request body exceeds this route's limit of 1000 bytes",
      'close',
    ],
    [
      'a body that is not JSON',
      post('{"model":'),
      400,
      'invalid_request_error',
      'The request body is not valid JSON',
      null,
    ],
    [
      'a body that is not UTF-8',
      post(new Uint8Array([0x7b, 0xff, 0x7d])),
      400,
      'invalid_request_error',
      'The request body is not valid UTF-8',
      null,
    ],
    [
      'a body the Messages API would refuse',
      post(JSON.stringify({ ...VALID, max_tokens: undefined })),
      400,
      'invalid_request_error',
      undefined,
      null,
    ],
  ])('answers %s itself, and never calls Claude', async (_what, request, status, type, message, connection) => {
    const { client, calls } = fakeClient('message');
    const route = proxyWith(client, { requestIdHeader: 'x-correlation-id' });
    const response = await route.proxy(request);
    expect(response.status).toBe(status);
    expect(response.headers.get('connection')).toBe(connection);
    const body = (await response.json()) as { error: { type: string; message: string }; request_id: string };
    expect(body.error.type).toBe(type);
    if (message !== undefined) expect(body.error.message).toBe(message);
    expect(response.headers.get('x-correlation-id')).toBe(body.request_id);
    expect(response.headers.get('x-request-id')).toBeNull();
    expect(calls).toHaveLength(0);
    expect(lines).toEqual([expect.objectContaining({ route: 'proxy', status, outcome: 'bad-request', attempts: 0 })]);
    expect(guard!.status().breakers[0]!.counts.fires).toBe(0);
  });

  it('answers 408 when the body does not arrive within the deadline, and never calls Claude', async () => {
    const { client, calls } = fakeClient('message');
    const route = proxyWith(client);
    const endless = new ReadableStream<Uint8Array>({ pull: () => new Promise<void>(() => undefined) });
    const pending = route.proxy(post(endless, { 'x-request-timeout-ms': '100' }));
    await vi.advanceTimersByTimeAsync(100);
    const response = await pending;
    expect(response.status).toBe(408);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toMatchObject({
      error: {
        type: 'timeout_error',
        message:
          "The request body was not received in time: the caller's deadline (from the request header) of 100 ms ran out; Claude was not called",
      },
    });
    expect(calls).toHaveLength(0);
    expect(lines).toEqual([expect.objectContaining({ status: 408, outcome: 'deadline-exceeded', attempts: 0 })]);
  });

  it('answers a bad deadline header with 400 before reading the body', async () => {
    const { client, calls } = fakeClient('message');
    const response = await proxyWith(client).proxy(post(JSON.stringify(VALID), { 'x-request-timeout-ms': 'soon' }));
    expect(response.status).toBe(400);
    expect(response.headers.get('connection')).toBe('close');
    expect(calls).toHaveLength(0);
    expect(lines).toEqual([expect.objectContaining({ status: 400, outcome: 'bad-request', attempts: 0 })]);
  });

  it("forwards a JSON answer with the upstream's ids and rate-limit headers, calling the SDK under the deadline", async () => {
    const { client, calls } = fakeClient('message');
    const response = await proxyWith(client).proxy(post(JSON.stringify(VALID), { 'x-request-id': 'mine-1' }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(MESSAGE);
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'content-type': 'application/json',
      'x-request-id': 'mine-1',
      'request-id': 'req_1',
      'x-upstream-request-id': 'req_1',
      'anthropic-ratelimit-requests-remaining': '41',
    });
    expect(response.headers.get('x-internal')).toBeNull();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.params).toEqual(VALID);
    expect(calls[0]!.options).toMatchObject({ maxRetries: 0, timeout: 60_000 });
    expect(calls[0]!.options['signal']).toBeInstanceOf(AbortSignal);
    expect(lines).toEqual([
      expect.objectContaining({
        route: 'proxy',
        requestId: 'mine-1',
        status: 200,
        outcome: 'ok',
        attempts: 1,
        model: 'claude-sonnet-5',
        upstreamRequestId: 'req_1',
        inputTokens: 5,
        outputTokens: 2,
        stream: false,
      }),
    ]);
  });

  it('streams when the body says "stream": true', async () => {
    const { client, calls } = fakeClient('stream');
    const response = await proxyWith(client).proxy(post(JSON.stringify({ ...VALID, stream: true })));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get('x-upstream-request-id')).toBe('req_1');
    expect(await response.text()).toBe(STREAM);
    expect(calls[0]!.params).toEqual({ ...VALID, stream: true });
    await vi.advanceTimersByTimeAsync(1_000); // the upstream's end is drained briefly after message_stop
    expect(lines).toEqual([expect.objectContaining({ status: 200, outcome: 'ok', stream: true, outputTokens: 2 })]);
  });

  it("passes the upstream's own 4xx message on, redacted (the passthrough's choice)", async () => {
    const upstream400 = Anthropic.APIError.generate(
      400,
      { type: 'error', error: { type: 'invalid_request_error', message: `max_tokens: too large for key ${KEY}` } },
      undefined,
      new Headers({ 'request-id': 'req_bad' }),
    );
    const { client } = fakeClient(upstream400);
    const response = await proxyWith(client).proxy(post(JSON.stringify(VALID)));
    expect(response.status).toBe(400);
    expect(response.headers.get('x-upstream-request-id')).toBe('req_bad');
    expect(await response.json()).toMatchObject({
      error: { type: 'invalid_request_error', message: 'max_tokens: too large for key [redacted]' },
    });
    expect(lines).toEqual([expect.objectContaining({ status: 400, outcome: 'bad-request', attempts: 1 })]);
  });
});

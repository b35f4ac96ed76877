import { describe, expect, it } from 'vitest';
import {
  ALL_ADAPTERS,
  NO_RESERVE,
  expectAnthropicError,
  messagesBody,
  useStack,
  type HttpResult,
  type Stack,
  type StackSettings,
} from '../support/index.js';

// The `proxy` route's `proxy` limits.
const LIMITS: StackSettings = {
  proxy: {
    proxy: { maxBodyBytes: 2_000, allowedModels: ['claude-sonnet-5', 'claude-haiku-4-5'], maxTokensCap: 1_000 },
  },
};

function expectUntouched(h: Stack): void {
  expect(h.fake.requests).toHaveLength(0);
  const proxy = h.guard.status().breakers.find((b) => b.key === 'proxy')!;
  expect(proxy.counts).toEqual({ fires: 0, successes: 0, failures: 0, rejects: 0, neutral: 0 });
  expect(proxy.state).toBe('closed');
}

function expectRejected(result: HttpResult, status: number, type: string, message: string | RegExp): void {
  expect(result.status).toBe(status);
  const error = expectAnthropicError(result);
  expect(error.type).toBe(type);
  if (typeof message === 'string') expect(error.message).toBe(message);
  else expect(error.message).toMatch(message);
}

/** A body sent chunked (no content-length), so the size limit is enforced while reading. */
function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.subarray(offset, offset + 500));
      offset += 500;
    },
  });
}

describe.each(ALL_ADAPTERS)('passthrough request validation (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  it.each([
    ['not JSON', '{"model": "claude-sonnet-5",', 'The request body is not valid JSON'],
    ['an empty body', '', 'The request body is not valid JSON'],
    ['a JSON array', '[1, 2]', 'The request body must be a JSON object'],
    ['no model', JSON.stringify(messagesBody({ model: undefined })), 'model: Field required'],
    ['no max_tokens', JSON.stringify(messagesBody({ max_tokens: undefined })), 'max_tokens: Field required'],
    ['no messages', JSON.stringify(messagesBody({ messages: undefined })), 'messages: Field required'],
    ['empty messages', JSON.stringify(messagesBody({ messages: [] })), 'messages: must be a non-empty array'],
    ['max_tokens 0', JSON.stringify(messagesBody({ max_tokens: 0 })), 'max_tokens: must be a positive integer'],
    [
      'a bad role',
      JSON.stringify(messagesBody({ messages: [{ role: 'system', content: 'x' }] })),
      "messages.0.role: must be 'user' or 'assistant'",
    ],
    ['a non-boolean stream', JSON.stringify(messagesBody({ stream: 'yes' })), 'stream: must be a boolean'],
    [
      'a model not allowed on the route',
      JSON.stringify(messagesBody({ model: 'claude-opus-9' })),
      "model: 'claude-opus-9' is not allowed on this route",
    ],
    [
      'max_tokens above the cap',
      JSON.stringify(messagesBody({ max_tokens: 1_001 })),
      'max_tokens: must be at most 1000 on this route',
    ],
  ])('answers 400 to %s, without calling Claude', async (_what, body, message) => {
    const h = await start(adapter, LIMITS);
    const result = await h.send('/v1/messages', body, { headers: { 'x-request-id': 'val-1' } });
    expectRejected(result, 400, 'invalid_request_error', message);
    expect(result.body.request_id).toBe('val-1');
    expectUntouched(h);
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded'])('answers 415 to content-type %s', async (type) => {
    const h = await start(adapter, LIMITS);
    const result = await h.send('/v1/messages', messagesBody(), { headers: { 'content-type': type } });
    expectRejected(result, 415, 'invalid_request_error', 'content-type must be application/json');
    expectUntouched(h);
  });

  it('answers 413 to a body over proxy.maxBodyBytes (content-length declared)', async () => {
    const h = await start(adapter, LIMITS);
    const body = messagesBody({ messages: [{ role: 'user', content: 'x'.repeat(5_000) }] });
    const result = await h.send('/v1/messages', body);
    expectRejected(result, 413, 'request_too_large', /limit of 2000 bytes/);
    expectUntouched(h);
  });

  it('answers 413 to a chunked body that grows over proxy.maxBodyBytes', async () => {
    const h = await start(adapter, LIMITS);
    const text = JSON.stringify(messagesBody({ messages: [{ role: 'user', content: 'x'.repeat(5_000) }] }));
    const result = await h.send('/v1/messages', chunked(text));
    expectRejected(result, 413, 'request_too_large', /limit of 2000 bytes/);
    expectUntouched(h);
  });

  it('accepts a body at the limits and forwards it unchanged', async () => {
    const h = await start(adapter, LIMITS);
    const body = messagesBody({ model: 'claude-haiku-4-5', max_tokens: 1_000, temperature: 0.5, system: 'Be brief.' });
    const result = await h.send('/v1/messages', body);
    expect(result.status).toBe(200);
    expect(result.body.model).toBe('claude-haiku-4-5');
    expect(h.fake.requests).toHaveLength(1);
    expect(h.fake.requests[0]!.body).toEqual(body);
  });

  it('keeps serving after a rejected body on the same connection', async () => {
    const h = await start(adapter, LIMITS);
    expect((await h.send('/v1/messages', 'nope')).status).toBe(400);
    expect((await h.send('/v1/messages', messagesBody(), { headers: { 'content-type': 'text/plain' } })).status).toBe(
      415,
    );
    expect((await h.proxy()).status).toBe(200);
    expect(h.fake.requests).toHaveLength(1);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS, MODEL, pooledClient, startStack, type Stack } from '../support/index.js';
import {
  LIMITS,
  chunked,
  expectAnthropicError,
  expectUntouched,
  lastLog,
  messagesBody,
  send,
  type Answer,
} from './input-kit.js';

const NOT_JSON = 'The request body is not valid JSON';
const NOT_OBJECT = 'The request body must be a JSON object';
const TOO_DEEP = 'The request body nests more than 128 levels deep';

const json = (value: unknown) => JSON.stringify(value);
const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
/** A valid body whose field `field` holds `raw` JSON text. */
const withRaw = (field: string, raw: string) => json(messagesBody({ [field]: '@@' })).replace('"@@"', raw);

describe.each(ADAPTERS)('hostile bodies on the passthrough (%s)', (adapter) => {
  let stack: Stack;
  let linesBefore = 0;
  beforeAll(async () => {
    stack = await startStack({ adapter, proxy: { proxy: LIMITS } });
  });
  afterAll(async () => {
    await stack.close();
  });
  afterEach(() => {
    // Whatever was sent, Claude was not called and the breaker did not move.
    try {
      expectUntouched(stack);
    } finally {
      stack.fake.reset();
    }
  });

  /** One more log line, for a request answered `status` as a bad request. */
  function expectLogged(answer: Answer): void {
    expect(stack.logs).toHaveLength(linesBefore + 1);
    expect(lastLog(stack)).toMatchObject({
      route: 'proxy',
      status: answer.status,
      outcome: 'bad-request',
      attempts: 0,
      requestId: answer.body.request_id,
    });
  }

  async function post(body: BodyInit, headers?: Record<string, string>): Promise<Answer> {
    linesBefore = stack.logs.length;
    return send(stack, '/v1/messages', body, headers);
  }

  it.each([
    ['a lone brace', '{', NOT_JSON],
    ['a trailing comma', '{"model": "claude-sonnet-5",}', NOT_JSON],
    ['single quotes', "{'model': 'claude-sonnet-5'}", NOT_JSON],
    ['a truncated body', json(messagesBody()).slice(0, -1), NOT_JSON],
    ['two objects', '{"a":1}{"b":2}', NOT_JSON],
    ['NaN', 'NaN', NOT_JSON],
    ['an empty body', '', NOT_JSON],
    ['null', 'null', NOT_OBJECT],
    ['a string', '"hello"', NOT_OBJECT],
    ['a number', '42', NOT_OBJECT],
    ['an array', json([messagesBody()]), NOT_OBJECT],
  ])('400 for invalid JSON: %s', async (_what, body, message) => {
    const answer = await post(body);
    expectAnthropicError(answer, 400, 'invalid_request_error', message);
    expectLogged(answer);
  });

  it.each([
    ['text/plain', { 'content-type': 'text/plain' }],
    ['a form', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }],
    ['application/jsonx', { 'content-type': 'application/jsonx' }],
    ['no content-type at all', {}],
  ])('415 for the wrong content type: %s', async (_what, headers) => {
    // Bytes, so that fetch adds no content-type of its own.
    const answer = await post(new TextEncoder().encode(json(messagesBody())), headers);
    expectAnthropicError(answer, 415, 'invalid_request_error', 'content-type must be application/json');
    expectLogged(answer);
  });

  it.each([
    ['no model', { model: undefined }, 'model: Field required'],
    ['a numeric model', { model: 5 }, 'model: must be a non-empty string'],
    ['an empty model', { model: '' }, 'model: must be a non-empty string'],
    ['a 10 000-character model', { model: 'm'.repeat(10_000) }, 'model: must be a non-empty string'],
    ['no max_tokens', { max_tokens: undefined }, 'max_tokens: Field required'],
    ['max_tokens as a string', { max_tokens: '16' }, 'max_tokens: must be a positive integer'],
    ['a fractional max_tokens', { max_tokens: 1.5 }, 'max_tokens: must be a positive integer'],
    ['a negative max_tokens', { max_tokens: -1 }, 'max_tokens: must be a positive integer'],
    ['a null max_tokens', { max_tokens: null }, 'max_tokens: must be a positive integer'],
    ['no messages', { messages: undefined }, 'messages: Field required'],
    ['messages as an object', { messages: { role: 'user' } }, 'messages: must be a non-empty array'],
    ['messages as a string', { messages: 'hi' }, 'messages: must be a non-empty array'],
    ['a null message', { messages: [null] }, 'messages.0: must be an object'],
    ['a message without content', { messages: [{ role: 'user' }] }, /^messages\.0\.content: /],
    ['numeric content', { messages: [{ role: 'user', content: 5 }] }, /^messages\.0\.content: /],
    [
      'a system role',
      { messages: [{ role: 'system', content: 'x' }] },
      "messages.0.role: must be 'user' or 'assistant'",
    ],
    ['stream as a string', { stream: 'true' }, 'stream: must be a boolean'],
    ['stream as a number', { stream: 1 }, 'stream: must be a boolean'],
  ])('400 for missing or mistyped fields: %s', async (_what, overrides, message) => {
    const answer = await post(json(messagesBody(overrides)));
    expectAnthropicError(answer, 400, 'invalid_request_error', message);
    expectLogged(answer);
  });

  it.each([
    ['an unknown model', { model: 'claude-opus-9' }, "model: 'claude-opus-9' is not allowed on this route"],
    [
      'a model in the wrong case',
      { model: 'CLAUDE-SONNET-5' },
      "model: 'CLAUDE-SONNET-5' is not allowed on this route",
    ],
    ['max_tokens one above the cap', { max_tokens: 1_001 }, 'max_tokens: must be at most 1000 on this route'],
    ['a billion max_tokens', { max_tokens: 1e9 }, 'max_tokens: must be at most 1000 on this route'],
    ['max_tokens past 2^53', { max_tokens: 2 ** 60 }, 'max_tokens: must be at most 1000 on this route'],
  ])('400 for the route limits: %s', async (_what, overrides, message) => {
    const answer = await post(json(messagesBody(overrides)));
    expectAnthropicError(answer, 400, 'invalid_request_error', message);
    expectLogged(answer);
  });

  it('a model name with CR/LF and markup comes back neutralized, in the body only', async () => {
    const answer = await post(json(messagesBody({ model: 'claude\r\nx-injected: 1\r\n<script>alert(1)</script>' })));
    expectAnthropicError(answer, 400, 'invalid_request_error');
    expect(answer.body.error.message).toMatch(/^model: 'claude\?\?x-injected:\?1\?\?.*' is not allowed on this route$/);
    expect(answer.body.error.message).not.toMatch(/[\r\n<>]/);
    expect(answer.headers.get('x-injected')).toBeNull();
    expectLogged(answer);
  });

  it.each([
    ['declared by content-length', (text: string) => text],
    ['sent chunked, without content-length', (text: string) => chunked(text)],
  ])('413 for a body over proxy.maxBodyBytes, %s', async (_what, wrap) => {
    const text = json(messagesBody({ messages: [{ role: 'user', content: 'x'.repeat(1_000_000) }] }));
    const answer = await post(wrap(text));
    expectAnthropicError(
      answer,
      413,
      'request_too_large',
      "The request body exceeds this route's limit of 300000 bytes",
    );
    expectLogged(answer);
  });

  it.each([
    ['a declared 1 MB body', {}, 413],
    ['a chunked 1 MB body', { 'transfer-encoding': 'chunked' }, 413],
    ['a 200 kB text/plain body', { 'content-type': 'text/plain' }, 415],
    ['a bad deadline header', { 'x-request-timeout-ms': 'soon' }, 400],
  ])(
    'answering %s before reading it closes the connection, so the next request on a keep-alive client works',
    async (_what, headers, status) => {
      // One socket, kept alive: the second request would land on a connection the server dropped.
      const client = pooledClient(stack.port, 1);
      try {
        const size = status === 413 ? 1_000_000 : 200_000;
        const body = json(messagesBody({ messages: [{ role: 'user', content: 'x'.repeat(size) }] }));
        linesBefore = stack.logs.length;
        const first = await client.post('/v1/messages', body, headers, 10_000);
        expect(first).toMatchObject({ kind: 'response', status });
        expect(first.kind === 'response' && first.headers.connection).toBe('close');
        const second = await client.post('/v1/messages', '{', {}, 10_000);
        expect(second).toMatchObject({ kind: 'response', status: 400 });
      } finally {
        client.destroy();
      }
    },
  );

  it.each([
    [
      '100 000 levels of [ inside a message',
      withRaw('messages', `[{"role":"user","content":${nestedArrays(100_000)}}]`),
    ],
    ['40 000 levels of { in an extra field', withRaw('metadata', nestedObjects(40_000))],
    ['100 000 levels of [ as the whole body', nestedArrays(100_000)],
    ['129 levels, one past the limit', withRaw('metadata', nestedArrays(128))],
    ['100 000 levels, and not even JSON', `{"model":${'['.repeat(100_000)}`],
  ])('400 (not a crash) for deeply nested JSON within the size limit: %s', async (_what, body) => {
    expect(body.length).toBeLessThan(LIMITS.maxBodyBytes);
    const answer = await post(body);
    expectAnthropicError(answer, 400, 'invalid_request_error', TOO_DEEP);
    expectLogged(answer);
  });

  it('brackets inside strings do not count as nesting', async () => {
    const answer = await post(json(messagesBody({ model: `[${'['.repeat(200)}"\\` })));
    expectAnthropicError(answer, 400, 'invalid_request_error', /^model: '.*' is not allowed on this route$/);
    expectLogged(answer);
  });
});

describe.each(ADAPTERS)('odd but acceptable bodies on the passthrough (%s)', (adapter) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ adapter, proxy: { proxy: LIMITS } });
  });
  afterAll(async () => {
    await stack.close();
  });

  it('128 levels of nesting in a field still reach Claude', async () => {
    // body { > tools [ > tool { > input_schema { > 124 levels of properties: 128 in all.
    const schema = `{"type":"object","properties":${nestedObjects(124)}}`;
    const answer = await send(stack, '/v1/messages', withRaw('tools', `[{"name":"deep","input_schema":${schema}}]`));
    expect(answer.status, answer.text).not.toBe(500);
    expect(answer.body?.error?.message).not.toBe(TOO_DEEP);
    expect(stack.fake.requests).toHaveLength(1);
  });

  it('__proto__ and constructor keys pollute nothing', async () => {
    const body = withRaw(
      'metadata',
      '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}',
    ).replace('{"model"', '{"__proto__":{"polluted":"yes"},"model"');
    const answer = await send(stack, '/v1/messages', body);
    expect([200, 400]).toContain(answer.status);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(answer.body.model ?? MODEL).toBe(MODEL);
  });
});

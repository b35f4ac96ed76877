import Anthropic from '@anthropic-ai/sdk';
import type { APIError } from '@anthropic-ai/sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FakeAnthropic } from './fake-anthropic.js';
import { createFakeAnthropic } from './fake-anthropic.js';
import { drawDelay, resolveOptions } from './options.js';

const model = 'claude-sonnet-5';
let fake: FakeAnthropic;
let client: Anthropic;

beforeEach(async () => {
  fake = await createFakeAnthropic();
  client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, maxRetries: 0 });
});

afterEach(async () => {
  await fake.close();
});

/** A raw POST, for what the SDK would refuse to send. */
function post(path: string, body: unknown, headers: Record<string, string> = { 'x-api-key': 'test-key' }) {
  return fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('happy path through the real SDK', () => {
  it('answers a non-streaming call deterministically', async () => {
    const message = await client.messages.create({
      model,
      max_tokens: 64,
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'one two three four five' }],
    });
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      model,
      content: [{ type: 'text', text: 'one two three four five one two three four five one two' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 7, output_tokens: 12 },
    });
    expect(message.id).toMatch(/^msg_/);
  });

  it('reports max_tokens when the reply is cut by max_tokens', async () => {
    const message = await client.messages.create({
      model,
      max_tokens: 3,
      messages: [{ role: 'user', content: 'a b' }],
    });
    expect(message.content).toEqual([{ type: 'text', text: 'a b a' }]);
    expect(message.stop_reason).toBe('max_tokens');
    expect(message.usage.output_tokens).toBe(3);
  });

  it('streams with messages.stream() and finalText()', async () => {
    const stream = client.messages.stream({
      model,
      max_tokens: 64,
      messages: [{ role: 'user', content: 'alpha beta gamma' }],
    });
    expect(await stream.finalText()).toBe('alpha beta gamma alpha beta gamma alpha beta gamma alpha beta gamma');
    const final = await stream.finalMessage();
    expect(final.usage.output_tokens).toBe(12);
    expect(final.stop_reason).toBe('end_turn');
  });

  it('streams with create({ stream: true }) in the documented event order', async () => {
    fake.setDefault({ replyWords: 3 });
    const stream = await client.messages.create({
      model,
      max_tokens: 64,
      stream: true,
      messages: [{ role: 'user', content: 'x y z w' }],
    });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(text).toBe('x y z');
    await fake.settled();
    // ping is on the wire (and counted) even though the SDK skips it.
    expect(fake.requests[0]).toMatchObject({ stream: true, status: 200, eventsSent: 9, outcome: 'completed' });
  });

  it('writes the SSE wire format byte for byte', async () => {
    fake.setDefault({ replyWords: 1 });
    const response = await post('/v1/messages', {
      model,
      max_tokens: 5,
      stream: true,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const id = fake.requests[0]?.id;
    const text = await response.text();
    const messageId = /"id":"(msg_[^"]+)"/.exec(text)?.[1];
    expect(text).toBe(
      [
        'event: message_start',
        `data: {"type":"message_start","message":{"id":"${messageId}","type":"message","role":"assistant","content":[],"model":"${model}","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}`,
        '',
        'event: content_block_start',
        'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
        '',
        'event: ping',
        'data: {"type": "ping"}',
        '',
        'event: content_block_delta',
        'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}',
        '',
        'event: content_block_stop',
        'data: {"type":"content_block_stop","index":0}',
        '',
        'event: message_delta',
        'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1}}',
        '',
        'event: message_stop',
        'data: {"type":"message_stop"}',
        '',
        '',
      ].join('\n'),
    );
    expect(response.headers.get('request-id')).toBe(id);
  });

  it('counts tokens', async () => {
    const count = await client.messages.countTokens({
      model,
      system: 'You are terse',
      messages: [{ role: 'user', content: 'count these four words' }],
    });
    expect(count).toEqual({ input_tokens: 7 });
  });

  it('sends request-id and the rate-limit header family on every response', async () => {
    const { data, response } = await client.messages
      .create({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(data.content).toHaveLength(1);
    expect(response.headers.get('request-id')).toMatch(/^req_\w+$/);
    for (const family of ['requests', 'tokens', 'input-tokens', 'output-tokens']) {
      expect(Number(response.headers.get(`anthropic-ratelimit-${family}-limit`))).toBeGreaterThan(0);
      expect(Number(response.headers.get(`anthropic-ratelimit-${family}-remaining`))).toBeGreaterThanOrEqual(0);
      expect(response.headers.get(`anthropic-ratelimit-${family}-reset`)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    const notFound = await post('/v1/nothing', {});
    expect(notFound.headers.get('request-id')).toMatch(/^req_/);
    expect(notFound.headers.get('anthropic-ratelimit-requests-limit')).not.toBeNull();
    await notFound.body?.cancel();
  });

  it('gives every request a unique id', async () => {
    const other = await createFakeAnthropic();
    try {
      await Promise.all([post('/v1/nothing', {}), post('/v1/nothing', {})].map(async (r) => (await r).text()));
      await (await fetch(`${other.url}/v1/nothing`)).text();
      const ids = [...fake.requests, ...other.requests].map((r) => r.id);
      expect(new Set(ids).size).toBe(3);
    } finally {
      await other.close();
    }
  });
});

describe('request log', () => {
  it('records method, path, body, lowercased headers, status and outcome', async () => {
    await client.messages.create({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    await fake.settled();
    expect(fake.requests).toHaveLength(1);
    const [record] = fake.requests;
    expect(record).toMatchObject({
      method: 'POST',
      path: '/v1/messages',
      body: { model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
      stream: false,
      fault: undefined,
      status: 200,
      eventsSent: 0,
      outcome: 'completed',
      abortedAt: undefined,
    });
    expect(record?.headers['x-stainless-retry-count']).toBe('0');
    expect(record?.headers['x-stainless-timeout']).toBe('600');
    expect(record?.headers['anthropic-version']).toBeDefined();
    expect(record?.endedAt).toBeGreaterThanOrEqual(record?.arrivedAt ?? Infinity);
  });

  it('takes its clock from the now option', async () => {
    let tick = 100;
    const clocked = await createFakeAnthropic({ now: () => (tick += 1) });
    try {
      await (await fetch(`${clocked.url}/v1/nothing`)).text();
      await clocked.settled();
      expect(clocked.requests[0]).toMatchObject({ arrivedAt: 101, endedAt: 102 });
    } finally {
      await clocked.close();
    }
  });

  it('keeps the raw body when it is not JSON, and reset() clears the log', async () => {
    await (await post('/v1/messages', 'not json')).text();
    expect(fake.requests[0]?.body).toBe('not json');
    fake.reset();
    expect(fake.requests).toHaveLength(0);
  });

  it('records the SDK retry count across retries', async () => {
    const retrying = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, maxRetries: 2 });
    fake.enqueue({ kind: 'status', status: 529, headers: { 'retry-after-ms': '1' } }, 'ok');
    await retrying.messages.create({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect(fake.requests.map((r) => [r.status, r.headers['x-stainless-retry-count']])).toEqual([
      [529, '0'],
      [200, '1'],
    ]);
  });

  it('calls onRequestEnd once per request', async () => {
    const ended: string[] = [];
    const observed = await createFakeAnthropic({ onRequestEnd: (r) => ended.push(`${r.status} ${r.outcome}`) });
    try {
      await (await fetch(`${observed.url}/v1/nothing`)).text();
      await observed.settled();
      expect(ended).toEqual(['404 completed']);
    } finally {
      await observed.close();
    }
  });
});

describe('validation, auth and routing', () => {
  it.each([
    [{ model, messages: [{ role: 'user', content: 'hi' }] }, 'max_tokens: Field required'],
    [{ max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }, 'model: Field required'],
    [{ model: 42, max_tokens: 5, messages: [] }, 'model: Input should be a valid string'],
    [
      { model, max_tokens: -1, messages: [{ role: 'user', content: 'hi' }] },
      'max_tokens: Input should be greater than or equal to 1',
    ],
    [{ model, max_tokens: 5, messages: [] }, 'messages: at least one message is required'],
    [
      { model, max_tokens: 5, messages: [{ role: 'bot', content: 'hi' }] },
      "messages.0.role: Input should be 'user' or 'assistant'",
    ],
  ])('answers 400 naming the field for %j', async (body, message) => {
    const response = await post('/v1/messages', body);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message },
      request_id: response.headers.get('request-id'),
    });
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await post('/v1/messages', '{"model":');
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
  });

  it('surfaces validation errors as BadRequestError through the SDK', async () => {
    const error = await client.messages.create({ model, max_tokens: 5, messages: [] }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as APIError).message).toContain('messages: at least one message is required');
  });

  it('requires an API key, by x-api-key or Authorization: Bearer', async () => {
    const body = { model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };
    const missing = await post('/v1/messages', body, {});
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: { type: 'authentication_error' } });
    expect((await post('/v1/messages', body, { 'x-api-key': 'k' })).status).toBe(200);
    expect((await post('/v1/messages', body, { authorization: 'Bearer k' })).status).toBe(200);
  });

  it('accepts only the configured keys when apiKeys is set', async () => {
    const strict = await createFakeAnthropic({ apiKeys: ['good-key'] });
    try {
      const bad = new Anthropic({ apiKey: 'bad-key', baseURL: strict.url, maxRetries: 0 });
      await expect(
        bad.messages.create({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
      ).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
      const good = new Anthropic({ apiKey: 'good-key', baseURL: strict.url, maxRetries: 0 });
      await good.messages.create({ model, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    } finally {
      await strict.close();
    }
  });

  it('validates count_tokens without requiring max_tokens', async () => {
    const response = await post('/v1/messages/count_tokens', { model });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { message: 'messages: Field required' } });
  });

  it('answers 404 not_found_error for an unknown path', async () => {
    const response = await fetch(`${fake.url}/v1/complete`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});

describe('options', () => {
  it('rejects bad options, naming them', async () => {
    await expect(createFakeAnthropic({ faultRate: 2 })).rejects.toThrow('`faultRate` must be a number from 0 to 1');
    await expect(createFakeAnthropic({ replyWords: 0 })).rejects.toThrow('`replyWords`');
    await expect(createFakeAnthropic({ port: -1 })).rejects.toThrow('`port`');
    await expect(createFakeAnthropic({ fault: 200 })).rejects.toThrow('`fault` must be an HTTP error status');
    await expect(createFakeAnthropic({ typo: 1 } as never)).rejects.toThrow('unknown option `typo`');
    expect(() => fake.setDefault({ tokenDelayMs: -5 })).toThrow('setDefault(): `tokenDelayMs`');
    expect(() => fake.enqueue('ok', { kind: 'stall', afterEvents: -1 })).toThrow('enqueue() argument 2.afterEvents');
    expect(() => fake.enqueue({ kind: 'nope' } as never)).toThrow('not a known fault kind');
  });

  it('uses 127.0.0.1 and a free port by default', () => {
    expect(fake.url).toBe(`http://127.0.0.1:${fake.port}`);
    expect(fake.port).toBeGreaterThan(0);
  });

  it('close() is idempotent', async () => {
    await fake.close();
    await fake.close();
  });
});

describe('firstEventDelays', () => {
  it('draws each request its first-event delay from the weighted choices, with the injected random source', async () => {
    const draws = [0.5, 0.99, 0.1];
    const fake = await createFakeAnthropic({
      firstEventDelays: [
        { ms: 0, weight: 9 },
        { ms: 150, weight: 1 },
      ],
      random: () => draws.shift() ?? 0,
    });
    try {
      const client = new Anthropic({ apiKey: 'k', baseURL: fake.url, maxRetries: 0 });
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        await client.messages.create({
          model: 'claude-sonnet-5',
          max_tokens: 5,
          messages: [{ role: 'user', content: 'hi' }],
        });
        times.push(performance.now() - started);
      }
      // Only the second draw (0.99) lands in the slow tenth.
      expect(times[1]).toBeGreaterThanOrEqual(140);
      expect(draws).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it('rejects a malformed distribution naming the option', () => {
    expect(() => resolveOptions({ firstEventDelays: [{ ms: -1, weight: 1 }] })).toThrow('`firstEventDelays`');
    expect(() => resolveOptions({ firstEventDelays: [{ ms: 1, weight: 0 }] })).toThrow('`firstEventDelays`');
  });

  it('drawDelay picks by weight', () => {
    const choices = [
      { ms: 50, weight: 9 },
      { ms: 2000, weight: 1 },
    ];
    expect(drawDelay(choices, () => 0)).toBe(50);
    expect(drawDelay(choices, () => 0.89)).toBe(50);
    expect(drawDelay(choices, () => 0.9)).toBe(2000);
  });
});

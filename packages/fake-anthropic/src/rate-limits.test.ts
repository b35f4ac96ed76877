import Anthropic from '@anthropic-ai/sdk';
import type { APIError } from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { FakeAnthropic } from './fake-anthropic.js';
import { createFakeAnthropic } from './fake-anthropic.js';
import type { FakeAnthropicOptions } from './options.js';

const model = 'claude-haiku-4-5';
// 3 input tokens (words); the default reply is 12 words, so 12 output tokens.
const params = { model, max_tokens: 64, messages: [{ role: 'user' as const, content: 'one two three' }] };

let fake: FakeAnthropic | undefined;

afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

/** A fake whose wall clock the test moves, and an SDK client without retries. */
async function start(options: FakeAnthropicOptions = {}) {
  let time = Date.parse('2026-03-01T12:00:00.000Z');
  fake = await createFakeAnthropic({ wallClock: () => time, ...options });
  const client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, maxRetries: 0 });
  return { fake, client, advance: (ms: number) => (time += ms) };
}

const failure = (promise: Promise<unknown>): Promise<APIError> =>
  promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err as APIError,
  );

function rateLimitHeaders(headers: Headers, family: string) {
  return {
    limit: headers.get(`anthropic-ratelimit-${family}-limit`),
    remaining: headers.get(`anthropic-ratelimit-${family}-remaining`),
    reset: headers.get(`anthropic-ratelimit-${family}-reset`),
  };
}

describe('a scripted rate-limit budget', () => {
  it('counts down per request, answers 429 with retry-after once spent, and comes back at the reset', async () => {
    const { fake, client, advance } = await start({ rateLimits: { requests: 2, windowMs: 2000 } });
    const first = await client.messages.create(params).withResponse();
    expect(rateLimitHeaders(first.response.headers, 'requests')).toEqual({
      limit: '2',
      remaining: '1',
      reset: '2026-03-01T12:00:02Z',
    });
    advance(500);
    const second = await client.messages.create(params).withResponse();
    expect(rateLimitHeaders(second.response.headers, 'requests').remaining).toBe('0');

    advance(500);
    const refused = await failure(client.messages.create(params));
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
    expect(refused.status).toBe(429);
    expect(refused.type).toBe('rate_limit_error');
    expect(refused.errorCode).toBeNull();
    expect(refused.headers?.get('retry-after')).toBe('1');
    expect(refused.apiMessage).toContain('rate limit of 2 requests per 2 seconds');
    expect(rateLimitHeaders(refused.headers!, 'requests')).toEqual({
      limit: '2',
      remaining: '0',
      reset: '2026-03-01T12:00:02Z',
    });
    expect(fake.requests.map((r) => [r.status, r.rateLimited])).toEqual([
      [200, undefined],
      [200, undefined],
      [429, 'requests'],
    ]);

    advance(1000); // the advertised reset
    const after = await client.messages.create(params).withResponse();
    expect(rateLimitHeaders(after.response.headers, 'requests')).toEqual({
      limit: '2',
      remaining: '1',
      reset: '2026-03-01T12:00:04Z',
    });
  });

  it('counts input and output tokens, and names the token limit that ran out', async () => {
    const { fake, client } = await start({ rateLimits: { inputTokens: 7, outputTokens: 100 } });
    const ok = await client.messages.create(params).withResponse();
    expect(ok.data.usage).toEqual({ input_tokens: 3, output_tokens: 12 });
    expect(rateLimitHeaders(ok.response.headers, 'input-tokens')).toMatchObject({ limit: '7', remaining: '4' });
    expect(rateLimitHeaders(ok.response.headers, 'output-tokens')).toMatchObject({ limit: '100', remaining: '88' });
    // Not scripted: the large informational limits, still counted.
    expect(rateLimitHeaders(ok.response.headers, 'tokens')).toMatchObject({ limit: '2400000', remaining: '2399985' });

    await client.messages.create(params); // 6 of 7 input tokens
    const refused = await failure(client.messages.create(params));
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
    expect(refused.apiMessage).toContain('rate limit of 7 input tokens per minute');
    expect(refused.headers?.get('retry-after')).toBe('60');
    expect(fake.requests[2]?.rateLimited).toBe('input-tokens');

    // A smaller request still fits the one input token left.
    const small = await client.messages.create({ ...params, messages: [{ role: 'user', content: 'one' }] });
    expect(small.usage.input_tokens).toBe(1);
  });

  it('refuses a stream before it starts', async () => {
    const { fake, client } = await start({ rateLimits: { requests: 1 } });
    await client.messages.create(params);
    const refused = await failure(client.messages.create({ ...params, stream: true }));
    expect(refused).toBeInstanceOf(Anthropic.RateLimitError);
    expect(fake.requests[1]).toMatchObject({ stream: true, status: 429, eventsSent: 0, rateLimited: 'requests' });
  });

  it('lets an injected fault win; error answers carry the headers but cost nothing', async () => {
    const { fake, client } = await start({ rateLimits: { requests: 1 } });
    fake.enqueue(529);
    const overloaded = await failure(client.messages.create(params));
    expect(overloaded).toBeInstanceOf(Anthropic.OverloadedError);
    expect(rateLimitHeaders(overloaded.headers!, 'requests').remaining).toBe('1');
    await client.messages.create(params);
    expect((await failure(client.messages.create(params))).status).toBe(429);
  });

  it('setDefault starts a new budget and window; reset() restores the first', async () => {
    const { fake, client } = await start({ rateLimits: { requests: 1 } });
    await client.messages.create(params);
    expect((await failure(client.messages.create(params))).status).toBe(429);
    fake.setDefault({ rateLimits: { requests: 3 } });
    const next = await client.messages.create(params).withResponse();
    expect(rateLimitHeaders(next.response.headers, 'requests')).toMatchObject({ limit: '3', remaining: '2' });
    fake.setDefault({ rateLimits: {} });
    const open = await client.messages.create(params).withResponse();
    expect(rateLimitHeaders(open.response.headers, 'requests').limit).toBe('4000');
    fake.reset();
    await client.messages.create(params);
    expect((await failure(client.messages.create(params))).status).toBe(429);
  });

  it('validates the budget, naming the option', async () => {
    await expect(createFakeAnthropic({ rateLimits: { requests: -1 } })).rejects.toThrow(
      'createFakeAnthropic(): rateLimits.requests must be a positive integer, got -1',
    );
    const { fake } = await start();
    expect(() => fake.setDefault({ rateLimits: { windowMs: 10 } })).toThrow(
      'setDefault(): rateLimits.windowMs must be a whole number of seconds in ms',
    );
    await expect(createFakeAnthropic({ wallClock: 5 as unknown as () => number })).rejects.toThrow(
      '`wallClock` must be a function',
    );
  });
});

describe('spend-limit and ramp-limit 429s', () => {
  it.each([
    ['spend-limit', Anthropic.EnforcedSpendLimitReachedError, 'enforced_spend_limit_reached', null],
    ['contract-spend-limit', Anthropic.ContractSpendLimitReachedError, 'contract_spend_limit_reached', null],
    ['ramp-limit', Anthropic.RampLimitExceededError, 'ramp_limit_exceeded', '1'],
  ])('%s makes the SDK raise %o', async (directive, errorClass, code, retryAfter) => {
    const { client } = await start();
    const error = await failure(client.messages.create(params, { headers: { 'x-fake-fault': directive } }));
    expect(error).toBeInstanceOf(errorClass);
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect(error.status).toBe(429);
    expect(error.type).toBe('rate_limit_error');
    expect(error.errorCode).toBe(code);
    expect(error.details).toEqual({ error_code: code });
    expect(error.headers?.get('retry-after')).toBe(retryAfter);
    expect(error.apiMessage).toMatch(/\w/);
  });

  it('sends the API body shape, with a chosen message and retry-after', async () => {
    const { fake } = await start();
    const response = await fetch(`${fake.url}/v1/messages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': 'test-key',
        'x-fake-fault': 'spend-limit; retry-after=3600; message=Spend limit reached',
      },
      body: JSON.stringify(params),
    });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('3600');
    expect(await response.json()).toEqual({
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message: 'Spend limit reached',
        details: { error_code: 'enforced_spend_limit_reached' },
      },
      request_id: fake.requests[0]?.id,
    });
  });

  it('takes any error code on a status fault, from a script too', async () => {
    const { fake, client } = await start();
    fake.enqueue({ kind: 'status', status: 429, errorCode: 'contract_spend_limit_reached' });
    expect(await failure(client.messages.create(params))).toBeInstanceOf(Anthropic.ContractSpendLimitReachedError);
    // A 402 with its billing code becomes the SDK's own subclass as well.
    const billing = await failure(
      client.messages.create(params, {
        headers: { 'x-fake-fault': 'status=402; error-code=linked_organization_spend_limit_reached' },
      }),
    );
    expect(billing).toBeInstanceOf(Anthropic.LinkedOrganizationSpendLimitReachedError);
    // An unknown code stays the plain class of its status, as the SDK documents.
    const unknown = await failure(
      client.messages.create(params, { headers: { 'x-fake-fault': 'status=429; error-code=something_new' } }),
    );
    expect(unknown.constructor).toBe(Anthropic.RateLimitError);
    expect(unknown.errorCode).toBe('something_new');
    expect(() => fake.enqueue({ kind: 'status', status: 429, errorCode: 'Bad Code' })).toThrow(
      "enqueue() argument 1.errorCode must be an error code such as 'enforced_spend_limit_reached', got 'Bad Code'",
    );
  });

  it('are retried by the SDK unless x-should-retry says no', async () => {
    const { fake } = await start();
    const retrying = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, maxRetries: 1 });
    fake.enqueue({
      kind: 'status',
      status: 429,
      errorCode: 'enforced_spend_limit_reached',
      headers: { 'retry-after-ms': '1' },
    });
    await retrying.messages.create(params);
    expect(fake.requests.map((r) => r.status)).toEqual([429, 200]);
    fake.reset();
    const stopped = await failure(
      retrying.messages.create(params, { headers: { 'x-fake-fault': 'spend-limit; x-should-retry=false' } }),
    );
    expect(stopped).toBeInstanceOf(Anthropic.EnforcedSpendLimitReachedError);
    expect(fake.requests).toHaveLength(1);
  });
});

describe('in-flight count', () => {
  it('reports the most requests open at once, until reset()', async () => {
    const { fake, client } = await start({ firstEventDelayMs: 200, replyWords: 3 });
    expect(fake.maxInFlight()).toBe(0);
    const five = Promise.allSettled(Array.from({ length: 5 }, () => client.messages.create(params)));
    await vi.waitFor(() => expect(fake.inFlight()).toBe(5));
    expect((await five).map((r) => r.status)).toEqual(Array(5).fill('fulfilled'));
    await fake.settled();
    expect(fake.inFlight()).toBe(0);
    expect(fake.maxInFlight()).toBe(5);
    await client.messages.create(params);
    expect(fake.maxInFlight()).toBe(5);
    fake.reset();
    expect(fake.maxInFlight()).toBe(0);
    await Promise.all([client.messages.create(params), client.messages.create(params)]);
    expect(fake.maxInFlight()).toBe(2);
  });

  it('counts a stalled request until its client gives up', async () => {
    const { fake, client } = await start();
    const controller = new AbortController();
    const stalled = failure(
      client.messages.create(params, { signal: controller.signal, headers: { 'x-fake-fault': 'stall' } }),
    );
    await vi.waitFor(() => expect(fake.inFlight()).toBe(1));
    await client.messages.create(params);
    expect(fake.inFlight()).toBe(1);
    expect(fake.maxInFlight()).toBe(2);
    controller.abort();
    await stalled;
    await fake.settled();
    expect(fake.inFlight()).toBe(0);
  });
});

import Anthropic from '@anthropic-ai/sdk';
import type { APIError } from '@anthropic-ai/sdk';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FakeAnthropic } from './fake-anthropic.js';
import { createFakeAnthropic } from './fake-anthropic.js';
import type { FaultInput } from './fault.js';

const model = 'claude-haiku-4-5';
const params = { model, max_tokens: 64, messages: [{ role: 'user' as const, content: 'one two three' }] };
const expectedText = 'one two three one two three one two three one two three';

let fake: FakeAnthropic;
let client: Anthropic;

beforeEach(async () => {
  fake = await createFakeAnthropic();
  // logLevel off: the malformed-SSE test makes the SDK log the bad chunk on purpose.
  client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, maxRetries: 0, logLevel: 'off' });
});

afterEach(async () => {
  await fake.close();
});

const failure = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (err: unknown) => err,
  );

/** Starts iterating a streamed create(); `events` fills as they arrive, `done` gives the error it ended with. */
function consume(stream: AsyncIterable<unknown>): { events: unknown[]; done: Promise<unknown> } {
  const events: unknown[] = [];
  const done = (async () => {
    for await (const event of stream) events.push(event);
  })().then(
    () => undefined,
    (error: unknown) => error,
  );
  return { events, done };
}

/** Iterates a streamed create() to the end, returning the error it ended with, if any. */
async function drain(stream: AsyncIterable<unknown>): Promise<{ events: unknown[]; error: unknown }> {
  const { events, done } = consume(stream);
  return { events, error: await done };
}

describe('status faults', () => {
  it.each([
    [400, Anthropic.BadRequestError, 'invalid_request_error'],
    [401, Anthropic.AuthenticationError, 'authentication_error'],
    [402, Anthropic.PaymentRequiredError, 'billing_error'],
    [403, Anthropic.PermissionDeniedError, 'permission_error'],
    [404, Anthropic.NotFoundError, 'not_found_error'],
    [408, Anthropic.RequestTimeoutError, 'timeout_error'],
    [409, Anthropic.ConflictError, 'conflict_error'],
    [413, Anthropic.ContentTooLargeError, 'request_too_large'],
    [429, Anthropic.RateLimitError, 'rate_limit_error'],
    [500, Anthropic.InternalServerError, 'api_error'],
    [503, Anthropic.ServiceUnavailableError, 'api_error'],
    [504, Anthropic.GatewayTimeoutError, 'api_error'],
    [529, Anthropic.OverloadedError, 'overloaded_error'],
  ] as const)('%i surfaces as %o with type %s', async (status, ErrorClass, type) => {
    fake.enqueue({ kind: 'status', status, headers: { 'retry-after': '2', 'x-should-retry': 'false' } });
    const error = await failure(client.messages.create(params));
    expect(error).toBeInstanceOf(ErrorClass);
    const apiError = error as APIError;
    expect(apiError.status).toBe(status);
    expect(apiError.type).toBe(type);
    expect(apiError.headers?.get('retry-after')).toBe('2');
    expect(apiError.headers?.get('x-should-retry')).toBe('false');
    expect(apiError.requestID).toBe(fake.requests[0]?.id);
    expect(apiError.error).toMatchObject({ type: 'error', request_id: fake.requests[0]?.id });
    expect(fake.requests[0]).toMatchObject({ status, fault: { kind: 'status', status } });
  });

  it('applies to streaming requests before any event', async () => {
    fake.enqueue(529);
    const error = await failure(client.messages.create({ ...params, stream: true }));
    expect(error).toBeInstanceOf(Anthropic.OverloadedError);
    expect(fake.requests[0]).toMatchObject({ stream: true, status: 529, eventsSent: 0 });
  });

  it('sends retry-after-ms and a custom message and type', async () => {
    fake.enqueue({
      kind: 'status',
      status: 500,
      type: 'overloaded_error',
      message: 'try later',
      headers: { 'Retry-After-Ms': '250' },
    });
    const error = (await failure(client.messages.create(params))) as APIError;
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect(error.type).toBe('overloaded_error');
    expect(error.apiMessage).toBe('try later');
    expect(error.headers?.get('retry-after-ms')).toBe('250');
  });

  it('echoes the API key in the message only when asked', async () => {
    fake.enqueue({ kind: 'status', status: 401, echoApiKey: true }, 401);
    const leaky = (await failure(client.messages.create(params))) as APIError;
    expect(leaky.apiMessage).toContain('test-key');
    const clean = (await failure(client.messages.create(params))) as APIError;
    expect(clean.apiMessage).not.toContain('test-key');
  });

  it('is chosen by the x-fake-fault header', async () => {
    const error = (await failure(
      client.messages.create(params, { headers: { 'x-fake-fault': 'status=429; retry-after=7' } }),
    )) as APIError;
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    expect(error.headers?.get('retry-after')).toBe('7');
  });

  it('honours x-fake-fault from the SDK defaultHeaders', async () => {
    const faulty = new Anthropic({
      apiKey: 'test-key',
      baseURL: fake.url,
      maxRetries: 0,
      defaultHeaders: { 'x-fake-fault': 'overloaded' },
    });
    await expect(faulty.messages.create(params)).rejects.toBeInstanceOf(Anthropic.OverloadedError);
  });

  it('answers 400 for an x-fake-fault value outside the grammar', async () => {
    const error = (await failure(
      client.messages.create(params, { headers: { 'x-fake-fault': 'explode' } }),
    )) as APIError;
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect(error.apiMessage).toContain("unknown fault 'explode'");
  });
});

describe('queued script and random rate', () => {
  it('consumes the script in order, one fault per request', async () => {
    fake.enqueue(529, 529, 'ok');
    const outcomes = [];
    for (let i = 0; i < 4; i += 1) {
      outcomes.push(
        await client.messages.create(params).then(
          () => 200,
          (err: APIError) => err.status,
        ),
      );
    }
    expect(outcomes).toEqual([529, 529, 200, 200]);
    expect(fake.requests.map((r) => r.fault?.kind)).toEqual(['status', 'status', undefined, undefined]);
  });

  it('lets the header win over the script without consuming it', async () => {
    fake.enqueue(503);
    const first = await failure(client.messages.create(params, { headers: { 'x-fake-fault': 'status=429' } }));
    expect(first).toBeInstanceOf(Anthropic.RateLimitError);
    await expect(client.messages.create(params)).rejects.toBeInstanceOf(Anthropic.ServiceUnavailableError);
    const okHeader = await client.messages.create(params, { headers: { 'x-fake-fault': 'ok' } });
    expect(okHeader.content).toHaveLength(1);
  });

  async function statuses(target: FakeAnthropic, count: number): Promise<number[]> {
    const results: number[] = [];
    for (let i = 0; i < count; i += 1) {
      const response = await fetch(`${target.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'test-key' },
        body: JSON.stringify(params),
      });
      await response.text();
      results.push(response.status);
    }
    return results;
  }

  it('draws a seeded random rate reproducibly', async () => {
    const twin = await createFakeAnthropic({ faultRate: 0.5, fault: [529, 429], seed: 42 });
    try {
      fake.setDefault({ faultRate: 0.5, fault: [529, 429], seed: 42 });
      const first = await statuses(fake, 24);
      const second = await statuses(twin, 24);
      expect(second).toEqual(first);
      expect(new Set(first)).toEqual(new Set([200, 429, 529]));
      // reset() restores the seed, so the same sequence starts over.
      twin.reset();
      expect(await statuses(twin, 24)).toEqual(first);
      // A different seed gives a different sequence.
      fake.setDefault({ seed: 7 });
      expect(await statuses(fake, 24)).not.toEqual(first);
    } finally {
      await twin.close();
    }
  });

  it('gives the script precedence over the random rate', async () => {
    fake.setDefault({ faultRate: 1, fault: 'ok' satisfies FaultInput });
    fake.enqueue(500);
    expect(await statuses(fake, 2)).toEqual([500, 200]);
    fake.setDefault({ fault: { kind: 'status', status: 529 } });
    expect(await statuses(fake, 1)).toEqual([529]);
  });
});

describe('stream faults', () => {
  it('sends an in-band error that the SDK raises as APIError without status', async () => {
    fake.enqueue({ kind: 'in-band-error', afterEvents: 3, type: 'overloaded_error' });
    const { events, error } = await drain(await client.messages.create({ ...params, stream: true }));
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect(error).not.toBeInstanceOf(Anthropic.APIConnectionError);
    expect((error as APIError).status).toBeUndefined();
    expect((error as APIError).type).toBe('overloaded_error');
    expect(events.map((e) => (e as { type: string }).type)).toEqual(['message_start', 'content_block_start']);
    await fake.settled();
    expect(fake.requests[0]).toMatchObject({ status: 200, eventsSent: 4, outcome: 'completed' });
  });

  it('sends an in-band error chosen by header, with messages.stream()', async () => {
    const stream = client.messages.stream(params, {
      headers: { 'x-fake-fault': 'in-band-error=api_error; after=5; message=boom' },
    });
    const error = (await failure(stream.finalText())) as APIError;
    expect(error.status).toBeUndefined();
    expect(error.type).toBe('api_error');
    expect(error.apiMessage).toBe('boom');
  });

  it('turns an in-band error into the matching status for a non-streaming call', async () => {
    fake.enqueue({ kind: 'in-band-error', type: 'rate_limit_error' });
    await expect(client.messages.create(params)).rejects.toBeInstanceOf(Anthropic.RateLimitError);
  });

  it('records a stalled stream as client-aborted once the client aborts', async () => {
    fake.enqueue({ kind: 'stall', afterEvents: 3 });
    const controller = new AbortController();
    const stream = await client.messages.create({ ...params, stream: true }, { signal: controller.signal });
    const { events, done } = consume(stream);
    // message_start and content_block_start reach the caller; ping, the third event, is skipped by the SDK.
    await vi.waitFor(() => expect(events).toHaveLength(2));
    expect(fake.requests[0]).toMatchObject({ eventsSent: 3, outcome: 'pending' });
    controller.abort();
    await done;
    await fake.settled();
    const record = fake.requests[0];
    expect(record).toMatchObject({ status: 200, eventsSent: 3, outcome: 'client-aborted', fault: { kind: 'stall' } });
    expect(record?.abortedAt).toBe(record?.endedAt);
    expect(record?.abortedAt).toBeGreaterThanOrEqual(record?.arrivedAt ?? Infinity);
  });

  it('stalls right after the SSE headers with stall-after=0', async () => {
    const controller = new AbortController();
    // create() resolving proves the 200 and its headers arrived although no event did.
    const stream = await client.messages.create(
      { ...params, stream: true },
      { signal: controller.signal, headers: { 'x-fake-fault': 'stall' } },
    );
    expect(fake.requests[0]).toMatchObject({ status: 200, eventsSent: 0, outcome: 'pending' });
    controller.abort();
    await drain(stream);
    await fake.settled();
    expect(fake.requests[0]?.outcome).toBe('client-aborted');
  });

  it('never sends headers to a stalled non-streaming call', async () => {
    const controller = new AbortController();
    const pending = failure(
      client.messages.create(params, { signal: controller.signal, headers: { 'x-fake-fault': 'stall' } }),
    );
    await vi.waitFor(() => expect(fake.requests[0]?.fault?.kind).toBe('stall'));
    controller.abort();
    expect(await pending).toBeInstanceOf(Anthropic.APIUserAbortError);
    await fake.settled();
    expect(fake.requests[0]).toMatchObject({ status: undefined, outcome: 'client-aborted' });
  });

  it('lets the SDK timeout fire on a stalled non-streaming call', async () => {
    fake.enqueue({ kind: 'stall' });
    const error = await failure(client.messages.create(params, { timeout: 100 }));
    expect(error).toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
    await fake.settled();
    expect(fake.requests[0]?.outcome).toBe('client-aborted');
  });

  it('resets the connection before headers: APIConnectionError', async () => {
    fake.enqueue({ kind: 'reset' });
    const error = await failure(client.messages.create(params));
    expect(error).toBeInstanceOf(Anthropic.APIConnectionError);
    const viaHeader = await failure(
      client.messages.create({ ...params, stream: true }, { headers: { 'x-fake-fault': 'reset-before-headers' } }),
    );
    expect(viaHeader).toBeInstanceOf(Anthropic.APIConnectionError);
    await fake.settled();
    expect(fake.requests.map((r) => [r.status, r.outcome])).toEqual([
      [undefined, 'reset'],
      [undefined, 'reset'],
    ]);
  });

  it('drops the connection mid-stream after N events', async () => {
    const stream = await client.messages.create(
      { ...params, stream: true },
      { headers: { 'x-fake-fault': 'reset-after=4' } },
    );
    const { events, error } = await drain(stream);
    expect(error).toBeInstanceOf(Error);
    expect(events.length).toBeLessThanOrEqual(3);
    await fake.settled();
    expect(fake.requests[0]).toMatchObject({ status: 200, eventsSent: 4, outcome: 'reset' });
  });

  it('cuts a non-streaming body in half on reset-after', async () => {
    fake.enqueue({ kind: 'reset', afterEvents: 0 });
    await expect(client.messages.create(params)).rejects.toBeInstanceOf(Error);
    await fake.settled();
    expect(fake.requests[0]).toMatchObject({ status: 200, outcome: 'reset' });
  });

  it('sends malformed SSE after N events', async () => {
    fake.enqueue({ kind: 'malformed', afterEvents: 3 });
    const { events, error } = await drain(await client.messages.create({ ...params, stream: true }));
    expect(error).toBeInstanceOf(SyntaxError);
    expect(events).toHaveLength(2);
    await fake.settled();
    expect(fake.requests[0]).toMatchObject({ eventsSent: 4, outcome: 'completed' });
  });

  it('sends a truncated JSON body for a malformed non-streaming answer', async () => {
    const error = await failure(client.messages.create(params, { headers: { 'x-fake-fault': 'malformed' } }));
    expect(error).toBeInstanceOf(Error);
    expect(fake.requests[0]?.status).toBe(200);
  });

  it('trickles every event a few bytes at a time without changing the content', async () => {
    fake.enqueue({ kind: 'trickle', chunkBytes: 3, delayMs: 0 });
    expect(await client.messages.stream(params).finalText()).toBe(expectedText);
    const json = await client.messages.create(params, { headers: { 'x-fake-fault': 'trickle=5; delay=0' } });
    expect(json.content).toEqual([{ type: 'text', text: expectedText }]);
    await fake.settled();
    expect(fake.requests.map((r) => [r.fault?.kind, r.outcome])).toEqual([
      ['trickle', 'completed'],
      ['trickle', 'completed'],
    ]);
  });

  it('applies slow and delay-headers timing and still answers in full', async () => {
    fake.enqueue({ kind: 'slow', firstEventDelayMs: 5, tokenDelayMs: 1 }, { kind: 'delay-headers', ms: 5 });
    expect(await client.messages.stream(params).finalText()).toBe(expectedText);
    expect((await client.messages.create(params)).content).toEqual([{ type: 'text', text: expectedText }]);
    fake.setDefault({ firstEventDelayMs: 1, tokenDelayMs: 1 });
    expect(await client.messages.stream(params).finalText()).toBe(expectedText);
    await fake.settled();
    expect(fake.requests.map((r) => [r.fault?.kind, r.outcome])).toEqual([
      ['slow', 'completed'],
      ['delay-headers', 'completed'],
      [undefined, 'completed'],
    ]);
  });
});

describe('close()', () => {
  it('ends stalled connections, records them as reset and leaves settled() resolvable', async () => {
    const target = await createFakeAnthropic();
    const stalled = new Anthropic({ apiKey: 'k', baseURL: target.url, maxRetries: 0 });
    const streaming = await stalled.messages.create(
      { ...params, stream: true },
      { headers: { 'x-fake-fault': 'stall-after=1' } },
    );
    const { events, done } = consume(streaming);
    const headerless = failure(stalled.messages.create(params, { headers: { 'x-fake-fault': 'stall' } }));
    const slow = failure(
      stalled.messages.create(params, { headers: { 'x-fake-fault': 'slow; first-event-delay-ms=60000' } }),
    );
    await vi.waitFor(() => expect(target.requests.filter((r) => r.fault !== undefined)).toHaveLength(3));
    await vi.waitFor(() => expect(events).toHaveLength(1));
    await target.close();
    await target.settled();
    expect(target.requests.map((r) => r.outcome)).toEqual(['reset', 'reset', 'reset']);
    expect(await done).toBeInstanceOf(Error);
    expect(await headerless).toBeInstanceOf(Anthropic.APIConnectionError);
    expect(await slow).toBeInstanceOf(Anthropic.APIConnectionError);
  });
});

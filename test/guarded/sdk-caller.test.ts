import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import {
  ALL_ADAPTERS,
  LATE_HEADERS,
  MANUAL_DEADLINE_MS,
  NO_RESERVE,
  PROMPT,
  manualClock,
  retryCounts,
  runOutAtUpstream,
  useStack,
  type Stack,
} from '../support/index.js';

/** The end user's SDK, pointed at our passthrough, with the SDK's default retries (2). */
function caller(h: Stack): Anthropic {
  return new Anthropic({ apiKey: 'end-user-key', baseURL: h.base });
}

const params = { model: 'claude-sonnet-5', max_tokens: 50, messages: [{ role: 'user' as const, content: PROMPT }] };

async function failure(promise: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Anthropic.APIError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe.each(ALL_ADAPTERS)('the real SDK calling the passthrough (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  it('gets the message, with the upstream request id, after our retries', async () => {
    const h = await start(adapter);
    h.fake.enqueue(529, 'ok');
    const { data, request_id } = await caller(h).messages.create(params).withResponse();
    expect(data.content[0]).toEqual({ type: 'text', text: expect.stringContaining('zebra') as unknown });
    expect(request_id).toBe(h.fake.requests[1]!.id);
    expect(h.fake.requests).toHaveLength(2);
    expect(retryCounts(h.fake)).toEqual(['0', '0']);
  });

  it.each([
    ['OverloadedError', 529, [529, 529, 529], 3, {}],
    ['InternalServerError', 500, [500, 500, 500], 3, {}],
    ['ServiceUnavailableError', 503, [503, 503, 503], 3, {}],
    ['BadRequestError', 400, [400], 1, {}],
    ['AuthenticationError', 401, [401], 1, {}],
    ['PermissionDeniedError', 403, [403], 1, {}],
    ['NotFoundError', 404, [404], 1, {}],
    [
      'RateLimitError',
      429,
      [{ kind: 'status' as const, status: 429, headers: { 'retry-after': '30' } }],
      1,
      { 'x-request-timeout-ms': '2000' },
    ],
    ['GatewayTimeoutError', 504, [LATE_HEADERS], 1, { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) }],
  ])('gets %s (%d) and does not retry on top of our attempts', async (name, status, faults, attempts, headers) => {
    // A deadline runs out on a manual clock once the upstream has the request (on real time, a loaded
    // machine could spend a short one before the attempt reached the fake).
    const clock = manualClock();
    const runsOut = status === 504;
    const h = await start(adapter, runsOut ? { guard: { clock } } : {});
    h.fake.enqueue(...faults);
    const send = () => caller(h).messages.create(params, { headers });
    const error = await failure(runsOut ? runOutAtUpstream(h.fake, clock, send) : send());
    expect(error.constructor.name).toBe(name);
    expect(error.status).toBe(status);
    expect(error.headers?.get('x-should-retry')).toBe('false');
    expect(error.error).toMatchObject({ type: 'error', request_id: error.headers?.get('x-request-id') });
    await h.fake.settled();
    expect(h.fake.requests).toHaveLength(attempts);
    expect(retryCounts(h.fake)).toEqual(Array.from({ length: attempts }, () => '0'));
  });

  it('gets ServiceUnavailableError from an open breaker, without a new upstream call', async () => {
    const h = await start(adapter, {
      proxy: {
        retry: { maxAttempts: 1 },
        breaker: { volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeout: 60_000 },
      },
    });
    h.fake.enqueue(529);
    const client = caller(h);
    expect((await failure(client.messages.create(params))).status).toBe(529);
    const error = await failure(client.messages.create(params));
    expect(error).toBeInstanceOf(Anthropic.ServiceUnavailableError);
    expect(error.type).toBe('overloaded_error');
    expect(error.headers?.get('retry-after')).toBe('60');
    expect(h.fake.requests).toHaveLength(1);
  });

  it('gets BadRequestError for a body the route refuses, with the message naming the field', async () => {
    const h = await start(adapter, { proxy: { proxy: { maxTokensCap: 10 } } });
    const error = await failure(caller(h).messages.create(params));
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect(error.type).toBe('invalid_request_error');
    expect(error.apiMessage).toBe('max_tokens: must be at most 10 on this route');
    expect(h.fake.requests).toHaveLength(0);
  });

  it('gets a 502 InternalServerError when Claude cannot be reached at all', async () => {
    const h = await start(adapter);
    h.fake.setDefault({ faultRate: 1, fault: { kind: 'reset' } });
    const error = await failure(caller(h).messages.create(params));
    expect(error).toBeInstanceOf(Anthropic.InternalServerError);
    expect(error.status).toBe(502);
    expect(h.fake.requests).toHaveLength(3);
  });
});

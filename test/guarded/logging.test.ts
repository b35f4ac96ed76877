import { VERSION as SDK_VERSION } from '@anthropic-ai/sdk/version';
import { describe, expect, it, vi } from 'vitest';
import {
  ADAPTERS,
  API_KEY,
  LATE_HEADERS,
  MANUAL_DEADLINE_MS,
  NO_RESERVE,
  PROMPT,
  manualClock,
  runOutAtUpstream,
  useStack,
  type LogCall,
  type Stack,
} from '../support/index.js';

const FIELDS = [
  'attempts',
  'cacheCreationInputTokens',
  'cacheReadInputTokens',
  'commitMs',
  'durationMs',
  'errorCode',
  'firstByteMs',
  'firstEventMs',
  'inputTokens',
  'model',
  'outcome',
  'outputTokens',
  'requestId',
  'route',
  'sdkVersion',
  'status',
  'stream',
  'upstreamMessage',
  'upstreamRequestId',
];

function expectClean(h: Stack): void {
  const text = JSON.stringify(h.logs);
  for (const word of PROMPT.split(' ')) expect(text).not.toContain(word);
  expect(text).not.toContain(API_KEY);
}

/** The log line for one request: waits for it, and checks there is exactly one. */
async function lineFor(h: Stack, requestId: string | null): Promise<LogCall> {
  await vi.waitFor(() => expect(h.logs.filter((l) => l.record.requestId === requestId)).toHaveLength(1), {
    timeout: 5_000,
    interval: 2,
  });
  return h.logs.find((l) => l.record.requestId === requestId)!;
}

describe.each(ADAPTERS)('request log (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  it('writes one line for a successful guarded request, with every field and no content', async () => {
    const h = await start(adapter);
    h.fake.enqueue(529, 'ok');
    const result = await h.chat({ 'x-request-id': 'log-1' });
    expect(result.status).toBe(200);
    const line = await lineFor(h, 'log-1');
    expect(line.message).toBe('claude-guard request');
    expect(Object.keys(line.record).sort()).toEqual(FIELDS);
    expect(line.record).toMatchObject({
      route: 'chat',
      requestId: 'log-1',
      upstreamRequestId: h.fake.requests[1]!.id,
      status: 200,
      outcome: 'ok',
      attempts: 2,
      model: 'claude-sonnet-5',
      stream: false,
      outputTokens: 12,
      sdkVersion: SDK_VERSION,
    });
    expect(line.record.durationMs).toBeGreaterThanOrEqual(0);
    expect(h.logs).toHaveLength(1);
    expectClean(h);
  });

  it('writes one line for a passthrough request', async () => {
    const h = await start(adapter);
    const result = await h.proxy({ 'x-request-id': 'log-2' }, { model: 'claude-haiku-4-5' });
    expect(result.status).toBe(200);
    const line = await lineFor(h, 'log-2');
    expect(line.record).toMatchObject({
      route: 'proxy',
      status: 200,
      outcome: 'ok',
      attempts: 1,
      model: 'claude-haiku-4-5',
      upstreamRequestId: h.fake.requests[0]!.id,
      sdkVersion: SDK_VERSION,
    });
    expectClean(h);
  });

  it.each([
    ['exhausted retries', 'chat', [529, 529, 529], {}, { status: 529, outcome: 'upstream-error', attempts: 3 }],
    ['exhausted retries', 'proxy', [529, 529, 529], {}, { status: 529, outcome: 'upstream-error', attempts: 3 }],
    ['a 400', 'chat', [400], {}, { status: 400, outcome: 'bad-request', attempts: 1 }],
    ['a 400', 'proxy', [400], {}, { status: 400, outcome: 'bad-request', attempts: 1 }],
    [
      'a deadline',
      'chat',
      [LATE_HEADERS],
      { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) },
      { status: 504, outcome: 'deadline-exceeded', attempts: 1 },
    ],
    [
      'a deadline',
      'proxy',
      [LATE_HEADERS],
      { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) },
      { status: 504, outcome: 'deadline-exceeded', attempts: 1 },
    ],
  ])('writes one line for %s on %s', async (_what, route, faults, headers, expected) => {
    // A deadline runs out on a manual clock once the upstream has the request (on real time, a loaded
    // machine could spend a short one before the attempt reached the fake: no attempt in the line).
    const clock = manualClock();
    const runsOut = expected.status === 504;
    const h = await start(adapter, runsOut ? { guard: { clock } } : {});
    h.fake.enqueue(...faults);
    const send = () => (route === 'chat' ? h.chat(headers) : h.proxy(headers));
    const result = runsOut ? await runOutAtUpstream(h.fake, clock, send) : await send();
    expect(result.status).toBe(expected.status);
    const line = await lineFor(h, result.headers.get('x-request-id'));
    expect(line.record).toMatchObject({ route, model: 'claude-sonnet-5', ...expected });
    // Only an upstream answer carries a request id; a request cut off by the deadline has none.
    const last = h.fake.requests.at(-1)!;
    expect(line.record.upstreamRequestId).toBe(last.status === undefined ? undefined : last.id);
    expect(h.logs).toHaveLength(1);
    expectClean(h);
  });

  it('writes one line, with no upstream attempt, for a request refused by the open breaker', async () => {
    const h = await start(adapter, {
      chat: {
        retry: { maxAttempts: 1 },
        breaker: { volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeout: 60_000 },
      },
    });
    h.fake.enqueue(529);
    await h.chat();
    const refused = await h.chat({ 'x-request-id': 'log-refused' });
    expect(refused.status).toBe(503);
    const line = await lineFor(h, 'log-refused');
    expect(line.record).toMatchObject({ status: 503, outcome: 'breaker-open', attempts: 0 });
    await h.waitForLogs(2);
    expect(h.logs).toHaveLength(2);
  });

  it('writes one line for a passthrough body refused before any upstream call', async () => {
    const h = await start(adapter);
    const result = await h.send('/v1/messages', '{"model":', { headers: { 'x-request-id': 'log-bad-json' } });
    expect(result.status).toBe(400);
    const line = await lineFor(h, 'log-bad-json');
    expect(line.record).toMatchObject({ route: 'proxy', status: 400, outcome: 'bad-request', attempts: 0 });
  });

  it.each([
    ['malformed', 'abc', 400, 'bad-request'],
    ['spent', '0', 504, 'deadline-exceeded'],
  ])('writes one line for a request with a %s deadline header', async (_what, value, status, outcome) => {
    const h = await start(adapter);
    const chat = await h.chat({ 'x-request-id': 'log-chat', 'x-request-timeout-ms': value });
    const proxy = await h.proxy({ 'x-request-id': 'log-proxy', 'x-request-timeout-ms': value });
    expect([chat.status, proxy.status]).toEqual([status, status]);
    expect((await lineFor(h, 'log-chat')).record).toMatchObject({ route: 'chat', status, outcome, attempts: 0 });
    expect((await lineFor(h, 'log-proxy')).record).toMatchObject({ route: 'proxy', status, outcome, attempts: 0 });
    expect(h.logs).toHaveLength(2);
  });

  it.each(['chat', 'proxy'])('writes one line with status 499 when the client disconnects (%s)', async (route) => {
    const h = await start(adapter);
    h.fake.enqueue({ kind: 'delay-headers', ms: 5000 });
    const controller = new AbortController();
    const pending = (
      route === 'chat'
        ? h.send('/chat', { message: PROMPT }, { headers: { 'x-request-id': 'gone' }, signal: controller.signal })
        : h.send(
            '/v1/messages',
            { model: 'claude-sonnet-5', max_tokens: 5, messages: [{ role: 'user', content: PROMPT }] },
            { headers: { 'x-request-id': 'gone' }, signal: controller.signal },
          )
    ).catch((error: unknown) => error);
    await vi.waitFor(() => expect(h.fake.requests).toHaveLength(1), { timeout: 5_000, interval: 2 });
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    const line = await lineFor(h, 'gone');
    expect(line.record).toMatchObject({ route, status: 499, outcome: 'client-aborted', attempts: 1 });
    await h.fake.settled();
    expect(h.fake.requests[0]!.outcome).toBe('client-aborted');
    expectClean(h);
  });

  it('writes one line per request under concurrency', async () => {
    const h = await start(adapter);
    h.fake.enqueue(529, 500);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        i % 2 ? h.chat({ 'x-request-id': `c-${i}` }) : h.proxy({ 'x-request-id': `c-${i}` }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    await h.waitForLogs(6);
    expect(h.logs.map((l) => l.record.requestId).sort()).toEqual(['c-0', 'c-1', 'c-2', 'c-3', 'c-4', 'c-5']);
    expect(h.logs.reduce((sum, l) => sum + l.record.attempts, 0)).toBe(h.fake.requests.length);
    expectClean(h);
  });
});

import Anthropic from '@anthropic-ai/sdk';
import { FALLBACK_HEADER, type RouteOptions } from '@claude-guard/core';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  API_KEY,
  FALLBACK_MODEL,
  NO_RESERVE,
  expectAnthropicError,
  mergeSettings,
  params,
  readSse,
  names,
  useStack,
  type Stack,
  type StackSettings,
} from '../support/index.js';

// Recovery before the first byte: a second fake-anthropic is the fallback client (another key,
// region or platform), read by the official SDK through the passthrough and by /chat.

const backups: FakeAnthropic[] = [];
afterEach(async () => {
  for (const backup of backups.splice(0)) await backup.close();
});

async function startBackup(): Promise<{ backup: FakeAnthropic; fallback: RouteOptions['fallback'] }> {
  const backup = await createFakeAnthropic({});
  backups.push(backup);
  const client = new Anthropic({ apiKey: `${API_KEY}-backup`, baseURL: backup.url, maxRetries: 0 });
  return { backup, fallback: { client, model: FALLBACK_MODEL } };
}

/** Breaker opens at the first failure and stays open for the test; one attempt per call. */
const OPENS_AT_ONCE: Omit<RouteOptions, 'route'> = {
  retry: { maxAttempts: 1 },
  breaker: { volumeThreshold: 1, resetTimeout: 600_000 },
};

async function stackWithBackup(
  start: ReturnType<typeof useStack>,
  adapter: (typeof ADAPTERS)[number],
  routeOptions: Omit<RouteOptions, 'route'> = {},
  settings: StackSettings = {},
): Promise<{ h: Stack; backup: FakeAnthropic }> {
  const { backup, fallback } = await startBackup();
  const route = { ...routeOptions, fallback };
  const h = await start(adapter, mergeSettings({ proxy: route, chat: route }, settings));
  return { h, backup };
}

/** Opens the route's breaker with one 529 (answered by the fallback), then forgets both fakes' logs. */
async function openBreaker(h: Stack, backup: FakeAnthropic, route: 'proxy' | 'chat'): Promise<void> {
  h.fake.enqueue(529);
  const opened = route === 'proxy' ? await h.proxy() : await h.chat();
  expect(opened.status).toBe(200);
  expect(h.guard.status().breakers.find((b) => b.key === route)!.state).toBe('open');
  await h.fake.settled();
  await backup.settled();
  h.fake.reset();
  backup.reset();
}

describe.each(ADAPTERS)('fallback client (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  it('breaker open: the passthrough stream and JSON call are served by the fallback client, the primary is not called', async () => {
    const { h, backup } = await stackWithBackup(start, adapter, OPENS_AT_ONCE);
    await openBreaker(h, backup, 'proxy');
    const logsBefore = h.logs.length;

    // The official SDK reads the fallback's stream as one clean message.
    const { data: stream, response } = await h.client.messages.create({ ...params(), stream: true }).withResponse();
    expect(response.headers.get(FALLBACK_HEADER)).toBe(FALLBACK_MODEL);
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types[0]).toBe('message_start');
    expect(types.at(-1)).toBe('message_stop');
    expect(types.filter((t) => t === 'message_start')).toHaveLength(1);

    const json = await h.client.messages.create(params()).withResponse();
    expect(json.response.headers.get(FALLBACK_HEADER)).toBe(FALLBACK_MODEL);
    expect(json.data).toMatchObject({ type: 'message', model: FALLBACK_MODEL });

    expect(h.fake.requests).toHaveLength(0);
    expect(backup.requests.map((r) => (r.body as { model: string }).model)).toEqual([FALLBACK_MODEL, FALLBACK_MODEL]);
    await h.waitForLogs(logsBefore + 2);
    for (const line of h.logs.slice(logsBefore)) {
      expect(line.record).toMatchObject({ route: 'proxy', status: 200, outcome: 'fallback', model: FALLBACK_MODEL });
      expect(line.level).toBe('warn');
    }
    const fallbacks = h.events.filter((e) => e.type === 'fallback').slice(-2);
    expect(fallbacks).toEqual([
      expect.objectContaining({ reason: 'breaker-open', stream: true, served: true, model: FALLBACK_MODEL }),
      expect.objectContaining({ reason: 'breaker-open', stream: false, served: true, model: FALLBACK_MODEL }),
    ]);
  });

  it('breaker open: /chat streams and answers JSON from the fallback client, the header and the log say so', async () => {
    const { h, backup } = await stackWithBackup(start, adapter, OPENS_AT_ONCE);
    await openBreaker(h, backup, 'chat');
    const logsBefore = h.logs.length;

    const streamed = await h.post('/chat', { message: 'zebra', stream: true });
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get(FALLBACK_HEADER)).toBe(FALLBACK_MODEL);
    expect(names(await readSse(streamed)).at(-1)).toBe('done');

    const answered = await h.chat();
    expect(answered.status).toBe(200);
    expect(answered.headers.get(FALLBACK_HEADER)).toBe(FALLBACK_MODEL);
    expect(answered.body.text).toContain('zebra');

    expect(h.fake.requests).toHaveLength(0);
    expect(backup.requests).toHaveLength(2);
    await h.waitForLogs(logsBefore + 2);
    for (const line of h.logs.slice(logsBefore)) {
      expect(line.record).toMatchObject({ route: 'chat', outcome: 'fallback', model: FALLBACK_MODEL });
    }
  });

  it('primary exhausted before the commit (529 x attempts): the fallback serves the stream', async () => {
    const { h, backup } = await stackWithBackup(start, adapter);
    h.fake.enqueue(529, 529, 529);
    const { data: stream, response } = await h.client.messages.create({ ...params(), stream: true }).withResponse();
    expect(response.headers.get(FALLBACK_HEADER)).toBe(FALLBACK_MODEL);
    let text = '';
    for await (const event of stream) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(h.fake.requests.map((r) => r.status)).toEqual([529, 529, 529]);
    expect(backup.requests).toHaveLength(1);
    const line = await h.logLine(0);
    // Three attempts on the primary and one on the fallback.
    expect(line).toMatchObject({ outcome: 'fallback', model: FALLBACK_MODEL, attempts: 4, status: 200 });
  });

  it('the fallback failing too: the client gets the primary status, as without a fallback, never a hang', async () => {
    const { h, backup } = await stackWithBackup(start, adapter);
    h.fake.enqueue(529, 529, 529, 529, 529, 529);
    backup.enqueue(500, 500);
    const streamed = await h.send('/v1/messages', { ...params(), stream: true });
    expect(streamed.status).toBe(529);
    expect(expectAnthropicError(streamed).type).toBe('overloaded_error');
    expect(streamed.headers.get(FALLBACK_HEADER)).toBeNull();
    const json = await h.proxy();
    expect(json.status).toBe(529);
    expect(backup.requests.map((r) => r.status)).toEqual([500, 500]);
    await h.waitForLogs(2);
    expect(h.logs.map((l) => l.record.outcome)).toEqual(['upstream-error', 'upstream-error']);
    expect(h.events.filter((e) => e.type === 'fallback').map((e) => 'served' in e && e.served)).toEqual([false, false]);
  });

  it('never after the commit: a mid-stream failure stays an in-band error, the fallback is not called', async () => {
    // The token delay puts the error in a later chunk than the first events: the stream has committed by then.
    const { h, backup } = await stackWithBackup(start, adapter, {}, { fake: { tokenDelayMs: 50 } });
    h.fake.enqueue({ kind: 'in-band-error', afterEvents: 5 });
    const response = await h.post('/v1/messages', { ...params(), stream: true });
    expect(response.status).toBe(200);
    expect(response.headers.get(FALLBACK_HEADER)).toBeNull();
    const events = names(await readSse(response));
    expect(events[0]).toBe('message_start');
    expect(events.at(-1)).toBe('error');
    await h.fake.settled();
    expect(backup.requests).toHaveLength(0);
    expect(await h.logLine(0)).toMatchObject({ outcome: 'upstream-error', attempts: 1 });
    expect(h.events.filter((e) => e.type === 'fallback')).toEqual([]);
  });

  it('a list of targets is tried in order, each with its own breaker', async () => {
    const first = await startBackup();
    const second = await startBackup();
    const targets = [
      { ...(first.fallback as object), model: 'claude-first' },
      { ...(second.fallback as object), model: 'claude-second' },
    ] as RouteOptions['fallback'];
    const h = await start(adapter, { proxy: { fallback: targets, retry: { maxAttempts: 1 } } });
    h.fake.enqueue(529);
    first.backup.enqueue(503);
    const result = await h.send('/v1/messages', { ...params(), stream: true });
    expect(result.status).toBe(200);
    expect(result.headers.get(FALLBACK_HEADER)).toBe('claude-second');
    expect(first.backup.requests).toHaveLength(1);
    expect(second.backup.requests).toHaveLength(1);
    const keys = h.guard.status().breakers.map((b) => b.key);
    expect(keys).toEqual(
      expect.arrayContaining(['proxy', 'proxy:fallback:claude-first', 'proxy:fallback:claude-second']),
    );
  });
});

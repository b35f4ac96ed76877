import { afterEach, describe, expect, it } from 'vitest';
import { SseReader, json, names, params, readSse, startStack, textEventsText, type Stack } from '../support/index.js';

let h: Stack | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const GZIP = { 'accept-encoding': 'gzip' };

describe('streaming via express behind compression()', () => {
  it('delivers events while the upstream is still running (nothing held back until the end)', async () => {
    h = await startStack({ adapter: 'express', compression: true });
    h.fake.enqueue({ kind: 'stall', afterEvents: 3 });
    const controller = new AbortController();

    const response = await h.post(
      '/v1/messages',
      { ...params(), stream: true },
      { headers: GZIP, signal: controller.signal },
    );
    const reader = new SseReader(response.body);
    const first = [await reader.next(), await reader.next(), await reader.next()];

    // These arrived although the upstream is stalled: the response was not buffered by compression.
    expect(first.map((event) => event?.event)).toEqual(['message_start', 'content_block_start', 'ping']);
    expect(h.fake.requests[0]?.outcome).toBe('pending');
    // `no-transform` keeps compression (and proxies) from buffering the stream to compress it.
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(response.headers.get('cache-control')).toBe('no-cache, no-transform');

    controller.abort();
    await h.fake.settled();
    expect(h.fake.requests[0]?.outcome).toBe('client-aborted');
  });

  it('a stall after 3 events: the client gets the 3 events, then the in-band error, then the end', async () => {
    h = await startStack({
      adapter: 'express',
      compression: true,
      guard: { stream: { idleTimeoutMs: 150, heartbeatMs: 10_000 } },
    });
    h.fake.enqueue({ kind: 'stall', afterEvents: 3 });

    const response = await h.post('/v1/messages', { ...params(), stream: true }, { headers: GZIP });
    const events = await readSse(response);

    expect(names(events)).toEqual(['message_start', 'content_block_start', 'ping', 'error']);
    expect(json(events.at(-1))).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
  });

  it('the text format streams through compression() too', async () => {
    h = await startStack({ adapter: 'express', compression: true });
    const expected = await h.directText();

    const response = await h.post('/chat', { message: params().messages[0]!.content, stream: true }, { headers: GZIP });
    const events = await readSse(response);

    expect(response.headers.get('content-encoding')).toBeNull();
    expect(textEventsText(events)).toBe(expected);
    expect(events.at(-1)?.event).toBe('done');
  });
});

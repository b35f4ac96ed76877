import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ADAPTERS,
  PING,
  deltaText,
  floodPings,
  healthyStream,
  json,
  names,
  params,
  readSse,
  sse,
  sseHead,
  startHostileUpstream,
  startStack,
  type HostileUpstream,
  type Stack,
} from '../support/index.js';

/**
 * Issue 10 item 1: before the first data event the engine kept every upstream `ping` in an array
 * with no limit, so an upstream that sends only pings grew memory without bound (and replayed them
 * all at the commit). Pings before the commit are dropped now, every buffer an upstream can grow is
 * bounded, and the first-event timeout fires however many pings arrive.
 */

const WAIT = { timeout: 5_000, interval: 10 };

let h: Stack | undefined;
let upstream: HostileUpstream | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
  await upstream?.close();
  upstream = undefined;
});

type Route = 'passthrough' | 'chat';
const ROUTES: readonly Route[] = ['passthrough', 'chat'];

function send(harness: Stack, route: Route): Promise<Response> {
  return route === 'passthrough'
    ? harness.post('/v1/messages', { ...params(), stream: true })
    : harness.post('/chat', { message: 'hi', stream: true });
}

describe.each(ADAPTERS)('pings before the commit cost nothing (%s)', (adapter) => {
  async function start(
    handler: Parameters<typeof startHostileUpstream>[0],
    firstEventTimeoutMs = 5_000,
  ): Promise<Stack> {
    upstream = await startHostileUpstream(handler);
    h = await startStack({
      adapter,
      upstreamUrl: upstream.url,
      guard: { retry: { maxAttempts: 2 }, stream: { heartbeatMs: 10_000, firstEventTimeoutMs, idleTimeoutMs: 5_000 } },
    });
    return h;
  }

  it('pings before the first data event are dropped, not kept and replayed at the commit', async () => {
    const s = await start(({ res }) => {
      sseHead(res, 'req_pings01');
      res.write(PING.repeat(2_000));
      setTimeout(() => res.end(healthyStream('after the pings')), 20);
    });

    const response = await send(s, 'passthrough');
    const events = await readSse(response);

    expect(response.status).toBe(200);
    expect(names(events).filter((name) => name === 'ping')).toEqual([]);
    expect(names(events)[0]).toBe('message_start');
    expect(deltaText(events)).toBe('after the pings');
    expect(upstream!.requests()).toBe(1);
  });

  it('events with no name before the first data event are dropped too', async () => {
    const s = await start(({ res }) => {
      sseHead(res, 'req_pings01');
      res.write('data: {"type":"nameless"}\n\n'.repeat(500));
      res.end(healthyStream('named'));
    });

    const events = await readSse(await send(s, 'passthrough'));

    expect(names(events).filter((name) => name === undefined)).toEqual([]);
    expect(deltaText(events)).toBe('named');
  });

  describe.each(ROUTES)('%s', (route) => {
    it('a ping flood never commits: the first-event timeout fires on each attempt, then 504', async () => {
      const s = await start(({ res }) => {
        sseHead(res, 'req_pings01');
        floodPings(res);
      }, 300);

      const response = await send(s, route);

      expect(response.status).toBe(504);
      const error = ((await response.json()) as { error: { type: string; message: string } }).error;
      expect(error.type).toBe('timeout_error');
      expect(error.message).toContain('stream stalled');
      expect(upstream!.requests()).toBe(2);
      // Both flooding connections were cut by the guard.
      await vi.waitFor(() => expect(upstream!.closedEarly()).toBe(2), WAIT);
      expect(await s.logLine()).toMatchObject({ status: 504, outcome: 'stream-stalled', attempts: 2 });
      const stalls = s.events.filter((event) => event.type === 'attempt-failed');
      expect(stalls).toEqual([
        expect.objectContaining({ kind: 'stream-stalled' }),
        expect.objectContaining({ kind: 'stream-stalled' }),
      ]);
    });

    it('thousands of events in one chunk after the commit all arrive, in order', async () => {
      const DELTAS = 3_000;
      const s = await start(({ res }) => {
        sseHead(res, 'req_pings01');
        const whole = healthyStream('x');
        const cut = whole.indexOf('event: content_block_delta');
        const end = whole.indexOf('event: content_block_stop');
        const many = Array.from({ length: DELTAS }, (_, i) =>
          sse('content_block_delta', {
            type: 'content_block_delta',
            index: 0,
            delta: { type: 'text_delta', text: `${i % 10}` },
          }),
        ).join('');
        res.end(whole.slice(0, cut) + PING + many + whole.slice(end));
      });

      const response = await send(s, route);
      const events = await readSse(response);
      const expected = Array.from({ length: DELTAS }, (_, i) => `${i % 10}`).join('');

      expect(response.status).toBe(200);
      if (route === 'passthrough') {
        expect(deltaText(events)).toBe(expected);
        expect(names(events).at(-1)).toBe('message_stop');
      } else {
        expect(
          events
            .filter((event) => event.event === 'text')
            .map((event) => json<string>(event))
            .join(''),
        ).toBe(expected);
        expect(names(events).at(-1)).toBe('done');
      }
      expect(await s.logLine()).toMatchObject({ status: 200, outcome: 'ok' });
    });
  });
});

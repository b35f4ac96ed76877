import type { BreakerSnapshot } from '@claude-guard/core';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ADAPTERS,
  MANUAL_DEADLINE_MS,
  MODEL,
  SseReader,
  healthyMessage,
  manualClock,
  messageStart,
  sse,
  startHostileUpstream,
  startStack,
  type HostileRequest,
  type HostileUpstream,
  type ManualClock,
  type Stack,
} from '../support/index.js';

/**
 * Issue 10 item 6: when the half-open trial was a stream, the breaker's verdict waited for the
 * whole stream, and, when the trial's client stopped reading, for ever (past the deadline: the
 * verdict waited on a body only the client's reads drain). Every other request got 503 meanwhile.
 * A stream attempt's verdict is given at its commit now: a valid first data event is proof of health.
 */

// The guard runs on a manual clock: the deadline runs out on `advance()` only, once the trial has committed
// and its client stopped reading (on real time a loaded machine could spend a short one before the commit).
// The breaker's rolling window and its open -> half-open follow that clock: the window spans the advances, so
// the counts are the whole test's.
// The stream's own limits are longer than the deadline: none of them fires here.
const BREAKER = {
  volumeThreshold: 1,
  errorThresholdPercentage: 50,
  resetTimeout: 200,
  rollingCountTimeout: 10 * MANUAL_DEADLINE_MS,
};
const STREAM = {
  heartbeatMs: 4 * MANUAL_DEADLINE_MS,
  firstEventTimeoutMs: 2 * MANUAL_DEADLINE_MS,
  idleTimeoutMs: 2 * MANUAL_DEADLINE_MS,
};
const WAIT = { timeout: 5_000, interval: 5 };

let h: Stack | undefined;
let upstream: HostileUpstream | undefined;
const readers: SseReader[] = [];

afterEach(async () => {
  for (const reader of readers.splice(0)) await reader.cancel();
  await h?.close();
  h = undefined;
  await upstream?.close();
  upstream = undefined;
});

function delta(text: string): string {
  return sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
}

/** A healthy stream that never ends: a delta every 50 ms until the guard hangs up. */
function slowEndlessStream(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_slow01' });
  res.write(
    messageStart() +
      sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
      delta('first'),
  );
  const timer = setInterval(() => {
    if (res.destroyed) clearInterval(timer);
    else res.write(delta(' more'));
  }, 50);
  res.on('close', () => clearInterval(timer));
}

/** The first request fails with a 500 (opening the breaker); streams are slow and endless; the rest succeed. */
function handler({ res, body, index }: HostileRequest): void {
  if (index === 0) {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'Internal server error' } }));
    return;
  }
  if ((JSON.parse(body) as { stream?: boolean }).stream === true) {
    slowEndlessStream(res);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_json01' });
  res.end(JSON.stringify(healthyMessage('fine')));
}

type Route = 'passthrough' | 'chat';
const ROUTES: readonly Route[] = ['passthrough', 'chat'];

const PROXY_BODY = { model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] };

function breaker(harness: Stack, key: string): BreakerSnapshot {
  const found = harness.guard.status().breakers.find((b) => b.key === key);
  if (!found) throw new Error(`no breaker ${key}`);
  return found;
}

describe.each(ADAPTERS)('a streaming half-open trial is decided at its commit (%s)', (adapter) => {
  describe.each(ROUTES)('%s', (route) => {
    const key = route === 'passthrough' ? 'proxy' : 'chat';
    const path = route === 'passthrough' ? '/v1/messages' : '/chat';
    const plain = route === 'passthrough' ? PROXY_BODY : { message: 'hi' };
    const streaming = route === 'passthrough' ? { ...PROXY_BODY, stream: true } : { message: 'hi', stream: true };
    const firstData = route === 'passthrough' ? 'content_block_delta' : 'text';

    let clock: ManualClock;

    async function openThenHalfOpen(deadlineMs?: number): Promise<Stack> {
      clock = manualClock();
      upstream = await startHostileUpstream(handler);
      h = await startStack({
        adapter,
        upstreamUrl: upstream.url,
        guard: {
          clock,
          retry: { maxAttempts: 1 },
          breaker: BREAKER,
          stream: STREAM,
          ...(deadlineMs === undefined ? {} : { deadline: { defaultMs: deadlineMs } }),
        },
      });
      expect((await h.post(path, plain)).status).toBe(500);
      expect(h.events.filter((event) => event.type === 'breaker-open')).toHaveLength(1);
      // The breaker's open -> half-open follows the manual clock too: open until resetTimeout, half-open at it.
      expect(breaker(h, key).state).toBe('open');
      clock.advance(BREAKER.resetTimeout - 1);
      expect(breaker(h, key).state).toBe('open');
      clock.advance(1);
      expect(breaker(h, key).state).toBe('half-open');
      return h;
    }

    /** Starts the trial stream, reads up to its first data event, then stops reading (without leaving). */
    async function trialThatStopsReading(harness: Stack): Promise<void> {
      const response = await harness.post(path, streaming);
      expect(response.status).toBe(200);
      const reader = new SseReader(response.body);
      readers.push(reader);
      const seen = await reader.until((message) => message.event === firstData);
      expect(seen.at(-1)?.event).toBe(firstData);
    }

    it('other requests are served as soon as the trial stream commits, not 503 until it ends', async () => {
      const s = await openThenHalfOpen();
      await trialThatStopsReading(s);

      expect(breaker(s, key).state).toBe('closed');
      for (let i = 0; i < 3; i++) {
        const response = await s.post(path, plain);
        expect(response.status).toBe(200);
      }
      expect(breaker(s, key).counts).toMatchObject({ failures: 1, successes: 4 });
      // The trial is still streaming: its upstream connection is open.
      expect(upstream!.closedEarly()).toBe(0);
    });

    it('past the deadline, with nobody reading, the upstream is aborted and the breaker is not held', async () => {
      const s = await openThenHalfOpen(MANUAL_DEADLINE_MS);
      await trialThatStopsReading(s);

      // The deadline aborts the trial's upstream although its client reads nothing more.
      clock.advance(MANUAL_DEADLINE_MS);
      await vi.waitFor(() => expect(upstream!.closedEarly()).toBe(1), WAIT);
      expect(breaker(s, key).state).toBe('closed');
      const response = await s.post(path, plain);
      expect(response.status).toBe(200);
      // The verdict was given at the commit; a deadline after it says nothing about Claude's health.
      expect(breaker(s, key).counts).toMatchObject({ failures: 1, successes: 2 });
    });
  });
});

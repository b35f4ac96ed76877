import { afterEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  findGc,
  floodPings,
  healthyStream,
  liveBytes,
  params,
  startHostileUpstream,
  startStack,
  type HostileUpstream,
  type Stack,
} from '../support/index.js';

/**
 * Issue 10 item 1, as a soak: 32 streams whose upstream answers 200 and then sends nothing but
 * `event: ping`, as fast as the guard reads, until the first-event timeout cuts it. The probe saw
 * such streams grow the process by about 50 MB/s; here the live heap (measured after a gc, while
 * the floods run) must stay small, and every stream must end with the first-event timeout.
 */

const STREAMS = 32;
const FIRST_EVENT_TIMEOUT_MS = 2_000;
const SAMPLE_EVERY_MS = 250;
const LIVE_GROWTH_BOUND = 64 * 1024 * 1024;

describe('soak: a ping flood on 32 concurrent streams', () => {
  let h: Stack | undefined;
  let upstream: HostileUpstream | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await upstream?.close();
    upstream = undefined;
  });

  it.each(ADAPTERS)(
    '%s: every stream ends with the first-event timeout, and the live heap stays flat meanwhile',
    async (adapter) => {
      const gc = findGc();
      expect(gc, 'gc must be available to measure the live heap').toBeTypeOf('function');
      let flooding = false;
      upstream = await startHostileUpstream(({ res }) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        if (flooding) floodPings(res);
        else res.end(healthyStream('warm'));
      });
      h = await startStack({
        adapter,
        upstreamUrl: upstream.url,
        guard: {
          retry: { maxAttempts: 1 },
          // This soak is about memory and the first-event timeout, not the breaker: on a slow machine (or Node
          // 22/24) the first floods time out before the last arrive and would open it, turning the rest into 503s.
          breaker: { enabled: false },
          stream: { firstEventTimeoutMs: FIRST_EVENT_TIMEOUT_MS, heartbeatMs: 30_000, idleTimeoutMs: 30_000 },
        },
      });
      // Warm the whole path up once, then measure where the heap stands.
      const warm = await h.post('/v1/messages', { ...params(), stream: true });
      expect(warm.status).toBe(200);
      await warm.text();
      const before = liveBytes(gc!);

      flooding = true;
      const harness = h;
      const results = Promise.all(
        Array.from({ length: STREAMS }, async () => {
          const response = await harness.post('/v1/messages', { ...params(), stream: true });
          const body = (await response.json()) as { error?: { type?: string } };
          return { status: response.status, type: body.error?.type };
        }),
      );
      let done = false;
      const markDone = (): void => {
        done = true;
      };
      results.then(markDone, markDone);
      let peak = 0;
      // Bounded: the floods end at the first-event timeout; 40 samples is twice that.
      for (let i = 0; i < 40 && !done; i++) {
        await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS));
        peak = Math.max(peak, liveBytes(gc!) - before);
      }
      const outcomes = await results;

      expect(outcomes).toEqual(Array.from({ length: STREAMS }, () => ({ status: 504, type: 'timeout_error' })));
      expect(upstream.requests()).toBe(STREAMS + 1);
      const stalled = h.logs.filter((line) => line.record.outcome === 'stream-stalled');
      expect(stalled).toHaveLength(STREAMS);
      expect(peak).toBeLessThan(LIVE_GROWTH_BOUND);
      expect(liveBytes(gc!) - before).toBeLessThan(LIVE_GROWTH_BOUND);
    },
    15_000,
  );
});

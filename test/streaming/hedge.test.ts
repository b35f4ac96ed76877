import type { GuardEvent, RouteOptions } from '@claude-guard/core';
import { describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  NO_RESERVE,
  eventually,
  isCompleteAnthropicStream,
  manualClock,
  params,
  readSse,
  useProcessWatch,
  useStack,
  type ManualClock,
  type Stack,
} from '../support/index.js';

// stream.hedge on a manual clock: the hedge's delay passes only when the test says so, so "the client's
// first event came at the hedge delay" is read off the injected clock, never off real-time margins.

const HEDGE_MS = 200;
const HEDGED: Omit<RouteOptions, 'route'> = { stream: { hedge: { delay: HEDGE_MS } } };
const STALL = { kind: 'stall', afterEvents: 0 } as const;

function hedgeEvents(h: Stack): GuardEvent['type'][] {
  return h.events.map((e) => e.type).filter((type) => type.startsWith('hedge-'));
}

/** Starts `request`, waits until the fake holds it, then lets the hedge delay pass on `clock`. */
async function pastHedgeDelay<T>(h: Stack, clock: ManualClock, request: () => Promise<T>): Promise<T> {
  const before = h.fake.requests.length;
  const pending = request();
  await eventually(() => h.fake.requests.length, before + 1);
  clock.advance(HEDGE_MS);
  return pending;
}

describe.each(ADAPTERS)('stream.hedge (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);
  const watch = useProcessWatch();

  async function hedgedStack(settings: Parameters<typeof start>[1] = {}): Promise<{ h: Stack; clock: ManualClock }> {
    // Retry backoffs (1-5 ms) stay on real time; the hedge delay, deadlines and stream timers wait for advance().
    const clock = manualClock(1_000_000, { realBelowMs: 50 });
    const h = await start(adapter, { ...settings, guard: { clock, ...settings.guard }, proxy: HEDGED, chat: HEDGED });
    return { h, clock };
  }

  it('the primary stalls before its first event, the hedge answers: committed at the hedge delay, the stalled attempt aborted upstream', async () => {
    const { h, clock } = await hedgedStack();
    h.fake.enqueue(STALL);
    const response = await pastHedgeDelay(h, clock, () => h.post('/v1/messages', { ...params(), stream: true }));
    expect(response.status).toBe(200);
    expect(isCompleteAnthropicStream(await readSse(response))).toBe(true);

    await h.fake.settled();
    // The stalled attempt's connection was closed by the guard; the hedge ran to the end.
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted', 'completed']);
    const line = await h.logLine(0);
    // The first event reached the client when the hedge delay had passed (the fake answers at once).
    expect(line).toMatchObject({ status: 200, outcome: 'ok', attempts: 2, commitMs: HEDGE_MS });
    expect(line.upstreamRequestId).toBe(h.fake.requests[1]!.id);
    expect(hedgeEvents(h)).toEqual(['hedge-started', 'hedge-won']);
    expect(h.events.find((e) => e.type === 'hedge-started')).toMatchObject({ delayMs: HEDGE_MS, stream: true });
    expect(h.events.find((e) => e.type === 'hedge-won')).toMatchObject({ firstEventMs: HEDGE_MS });
    // No timer or listener left behind.
    expect(clock.pending).toBe(0);
    expect(watch.unhandled).toEqual([]);
    expect(watch.maxListenerWarnings).toEqual([]);
  });

  it('the budget is charged once per hedge; with the budget empty no hedge starts', async () => {
    // Two retries in the window, none earned by requests: two hedges, then none.
    const { h, clock } = await hedgedStack({
      guard: { retryBudget: { percentCanRetry: 0, minRetriesPerSecond: 0.2, ttlMs: 10_000 } },
    });
    for (let i = 0; i < 2; i++) {
      h.fake.enqueue(STALL);
      const response = await pastHedgeDelay(h, clock, () => h.post('/v1/messages', { ...params(), stream: true }));
      expect(isCompleteAnthropicStream(await readSse(response))).toBe(true);
    }
    expect(h.fake.requests).toHaveLength(4);
    // The third request's first event is late too (real time), but the budget is spent: no hedge.
    h.fake.enqueue({ kind: 'slow', firstEventDelayMs: 150 });
    const response = await pastHedgeDelay(h, clock, () => h.post('/v1/messages', { ...params(), stream: true }));
    expect(isCompleteAnthropicStream(await readSse(response))).toBe(true);
    await h.fake.settled();
    expect(h.fake.requests).toHaveLength(5);
    expect(hedgeEvents(h)).toEqual(['hedge-started', 'hedge-won', 'hedge-started', 'hedge-won']);
    expect((await h.logLine(2)).attempts).toBe(1);
  });

  it('both slow: one commits, the other is aborted upstream', async () => {
    const { h, clock } = await hedgedStack();
    // Both legs answer after the same real delay and stream slowly: whichever is first, the other is cut.
    const slow = { kind: 'slow', firstEventDelayMs: 150, tokenDelayMs: 30 } as const;
    h.fake.enqueue(slow, slow);
    const pending = pastHedgeDelay(h, clock, () => h.post('/v1/messages', { ...params(), stream: true }));
    await eventually(() => h.fake.requests.length, 2);
    const response = await pending;
    expect(isCompleteAnthropicStream(await readSse(response))).toBe(true);
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome).sort()).toEqual(['client-aborted', 'completed']);
    const types = hedgeEvents(h);
    expect(types[0]).toBe('hedge-started');
    expect(types.slice(1).length).toBe(1);
    expect(['hedge-won', 'hedge-lost']).toContain(types[1]);
    expect((await h.logLine(0)).attempts).toBe(2);
    expect(clock.pending).toBe(0);
    expect(watch.unhandled).toEqual([]);
  });

  it('the breaker sees both outcomes: a hedge failing on its own counts as a failure while the primary answers', async () => {
    const { h, clock } = await hedgedStack();
    h.fake.enqueue({ kind: 'slow', firstEventDelayMs: 400 }, 529);
    const response = await pastHedgeDelay(h, clock, () => h.post('/v1/messages', { ...params(), stream: true }));
    expect(isCompleteAnthropicStream(await readSse(response))).toBe(true);
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.status)).toEqual([200, 529]);
    expect(h.guard.status().breakers.find((b) => b.key === 'proxy')!.counts).toMatchObject({
      successes: 1,
      failures: 1,
    });
    expect(hedgeEvents(h)).toEqual(['hedge-started', 'hedge-lost']);
  });

  it('non-streaming calls hedge on the response headers: the stalled call is aborted, the hedge answers', async () => {
    const { h, clock } = await hedgedStack();
    h.fake.enqueue(STALL);
    const result = await pastHedgeDelay(h, clock, () => h.proxy());
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ type: 'message' });
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted', 'completed']);
    expect(hedgeEvents(h)).toEqual(['hedge-started', 'hedge-won']);
    expect(h.events.find((e) => e.type === 'hedge-started')).toMatchObject({ stream: false });

    h.fake.enqueue(STALL);
    const chat = await pastHedgeDelay(h, clock, () => h.chat());
    expect(chat.status).toBe(200);
    expect(chat.body.text).toContain('zebra');
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual([
      'client-aborted',
      'completed',
      'client-aborted',
      'completed',
    ]);
    expect((await h.logLine(1)).attempts).toBe(2);
    expect(clock.pending).toBe(0);
  });
});

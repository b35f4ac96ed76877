import type { BreakerSnapshot, GuardEvent } from '@claude-guard/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ADAPTERS,
  LATE_HEADERS,
  MANUAL_DEADLINE_MS,
  MODEL,
  manualClock,
  runOutAtUpstream,
  startStack,
  type AdapterName,
  type ManualClock,
  type Stack,
} from '../support/index.js';

/**
 * Issue 10 item 2: one client could pin a breaker open. After an outage, with the upstream healthy
 * again, a client that sends requests with `x-request-timeout-ms: 20` at the half-open moment took
 * the trial, its trial ended neutral (its own short deadline), and a neutral trial re-opened the
 * breaker for another `resetTimeout`: legitimate traffic never got through.
 */

// Deadlines, trial budgets and the breaker's own open -> half-open run on a manual clock: a request's budget is
// exactly what its header says when the breaker weighs it, a deadline runs out only on `advance()`, and the
// breaker is half-open exactly `resetTimeout` after it opened, whatever the machine's load.
const BREAKER = { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: 200 };
const WAIT = { timeout: 5_000, interval: 5 };

const PROXY_BODY = { model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'breaker pinning' }] };

function breaker(h: Stack, key = 'proxy'): BreakerSnapshot {
  const found = h.guard.status().breakers.find((b) => b.key === key);
  if (!found) throw new Error(`no breaker ${key}`);
  return found;
}

function count(h: Stack, type: GuardEvent['type']): number {
  return h.events.filter((event) => event.type === type).length;
}

/** Moves `clock` on to the half-open moment of the breaker `key`, which must be open: open until then, half-open at it. */
function reachHalfOpen(h: Stack, clock: ManualClock, key = 'proxy'): void {
  expect(breaker(h, key).state).toBe('open');
  clock.advance(BREAKER.resetTimeout - 1);
  expect(breaker(h, key).state).toBe('open');
  clock.advance(1);
  expect(breaker(h, key).state).toBe('half-open');
}

/** Two upstream 500s open the proxy breaker; returns once it is half-open, with the fake healthy. */
async function openThenHalfOpen(h: Stack, clock: ManualClock): Promise<void> {
  h.fake.enqueue(500, 500);
  for (let i = 0; i < 2; i++) expect((await h.post('/v1/messages', PROXY_BODY)).status).toBe(500);
  expect(count(h, 'breaker-open')).toBe(1);
  reachHalfOpen(h, clock);
  await h.fake.settled();
  h.fake.reset();
}

describe.each(ADAPTERS)('breaker pinning (%s)', (adapter: AdapterName) => {
  let h: Stack | undefined;
  let clock: ManualClock;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function start(minTrialBudgetMs?: number): Promise<Stack> {
    clock = manualClock();
    h = await startStack({
      adapter,
      guard: {
        clock,
        retry: { maxAttempts: 1 },
        breaker: minTrialBudgetMs === undefined ? BREAKER : { ...BREAKER, minTrialBudgetMs },
      },
    });
    return h;
  }

  it.each([
    ['/v1/messages', PROXY_BODY, 'proxy'],
    ['/chat', { message: 'hi' }, 'chat'],
    ['/chat (stream)', { message: 'hi', stream: true }, 'chat'],
  ] as const)(
    'a request with a 20 ms budget does not take the half-open trial of %s: 503, Claude not called, the next request is the trial',
    async (label, body, key) => {
      const s = await start();
      const path = label.split(' ')[0]!;
      if (key === 'chat') {
        s.fake.enqueue(500, 500);
        for (let i = 0; i < 2; i++) expect((await s.post(path, body)).status).toBe(500);
        reachHalfOpen(s, clock, key);
        await s.fake.settled();
        s.fake.reset();
      } else {
        await openThenHalfOpen(s, clock);
      }
      // Healthy, but slower than the attacker's budget: in the old code its trial ran out neutral.
      s.fake.setDefault({ faultRate: 1, fault: { kind: 'delay-headers', ms: 100 } });

      for (let i = 0; i < 3; i++) {
        const attacker = await s.post(path, body, { headers: { 'x-request-timeout-ms': '20' } });
        expect(attacker.status).toBe(503);
        expect(((await attacker.json()) as { error: { type: string } }).error.type).toBe('overloaded_error');
        expect(Number(attacker.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      expect(s.fake.requests).toHaveLength(0);
      expect(breaker(s, key).state).toBe('half-open');

      const legit = await s.post(path, body);
      expect(legit.status).toBe(200);
      await legit.arrayBuffer();
      await vi.waitFor(() => expect(breaker(s, key).state).toBe('closed'), WAIT);
      expect(s.fake.requests).toHaveLength(1);
      expect(count(s, 'breaker-open')).toBe(1);
    },
  );

  it('a trial that ends neutral on the caller’s own deadline stays half-open and hands the trial to the next request', async () => {
    const s = await start();
    await openThenHalfOpen(s, clock);
    s.fake.setDefault({ faultRate: 1, fault: LATE_HEADERS });

    // Long enough to be the trial (>= minTrialBudgetMs, 1 s by default); it runs out while the upstream still
    // holds the request: neutral.
    const headers = { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) };
    const neutral = await runOutAtUpstream(s.fake, clock, () => s.post('/v1/messages', PROXY_BODY, { headers }));
    expect(neutral.status).toBe(504);
    expect(s.fake.requests).toHaveLength(1);
    expect(breaker(s).state).toBe('half-open');
    expect(count(s, 'breaker-open')).toBe(1);
    expect(breaker(s).counts).toMatchObject({ neutral: 1 });

    await s.fake.settled();
    s.fake.reset();
    expect((await s.post('/v1/messages', PROXY_BODY)).status).toBe(200);
    expect(breaker(s).state).toBe('closed');
    expect(count(s, 'breaker-close')).toBe(1);
  });

  it('a client that leaves mid-trial releases the trial: the next request is the trial and closes the breaker', async () => {
    const s = await start();
    await openThenHalfOpen(s, clock);
    s.fake.setDefault({ faultRate: 1, fault: LATE_HEADERS });

    const controller = new AbortController();
    const leaving = s.post('/v1/messages', PROXY_BODY, { signal: controller.signal }).then(
      () => 'answered',
      (error: unknown) => (error instanceof Error ? error.name : 'error'),
    );
    await vi.waitFor(() => expect(s.fake.requests).toHaveLength(1), WAIT);
    // While the trial is in flight, nobody else gets through.
    expect((await s.post('/v1/messages', PROXY_BODY)).status).toBe(503);
    controller.abort();
    expect(await leaving).toBe('AbortError');
    await vi.waitFor(() => expect(s.logs.some((line) => line.record.outcome === 'client-aborted')).toBe(true), WAIT);
    expect(breaker(s).state).toBe('half-open');

    await s.fake.settled();
    s.fake.reset();
    expect((await s.post('/v1/messages', PROXY_BODY)).status).toBe(200);
    expect(breaker(s).state).toBe('closed');
    expect(count(s, 'breaker-open')).toBe(1);
  });
});

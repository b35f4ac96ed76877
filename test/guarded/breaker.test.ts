import type { BreakerSnapshot, RouteOptions } from '@claude-guard/core';
import { describe, expect, it, vi } from 'vitest';
import {
  ADAPTERS,
  LATE_HEADERS,
  MANUAL_DEADLINE_MS,
  NO_RESERVE,
  expectAnthropicError,
  heldTimers,
  manualClock,
  runOutAtUpstream,
  useStack,
  type Stack,
} from '../support/index.js';

type RouteKind = 'chat' | 'proxy';
const ROUTES: RouteKind[] = ['chat', 'proxy'];

const BREAKER = { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: 200 };
// One attempt per request, so every request is one breaker call.
const ROUTE: Omit<RouteOptions, 'route'> = { retry: { maxAttempts: 1 }, breaker: BREAKER };
/**
 * The breaker moves from open to half-open on the guard's clock. The tests on the system clock that
 * need it to stay open give it a minute, so that a loaded machine's slow round trips cannot let a
 * trial through before the next call; the tests that wait for half-open on real time keep 200 ms.
 */
const HELD_OPEN_MS = 60_000;
const HELD: Omit<RouteOptions, 'route'> = { ...ROUTE, breaker: { ...BREAKER, resetTimeout: HELD_OPEN_MS } };
// Deadlines that run out on a manual clock once the upstream has the request (runOutAtUpstream): on real
// time a short one could run out before the attempt reached the fake.
const DEADLINE_MS = MANUAL_DEADLINE_MS;

function call(h: Stack, route: RouteKind, headers: Record<string, string> = {}) {
  return route === 'chat' ? h.chat(headers) : h.proxy(headers);
}

function breaker(h: Stack, key: string): BreakerSnapshot {
  const found = h.guard.status().breakers.find((b) => b.key === key);
  if (!found) throw new Error(`no breaker ${key}`);
  return found;
}

/** The breaker transitions so far, in order. */
function transitions(h: Stack): string[] {
  return h.events
    .map((event) => event.type)
    .filter((type) => ['breaker-open', 'breaker-half-open', 'breaker-close'].includes(type));
}

async function waitForState(h: Stack, key: string, state: BreakerSnapshot['state']): Promise<void> {
  await vi.waitFor(() => expect(breaker(h, key).state).toBe(state), { timeout: 5_000, interval: 5 });
}

/** Starts a request, waits until the fake has it, then disconnects. */
async function abortMidway(h: Stack, path: string, body: unknown): Promise<void> {
  const before = h.fake.requests.length;
  const controller = new AbortController();
  const pending = h.send(path, body, { signal: controller.signal }).then(
    () => 'answered',
    (error: unknown) => (error instanceof Error ? error.name : 'error'),
  );
  await vi.waitFor(() => expect(h.fake.requests.length).toBe(before + 1), { timeout: 5_000, interval: 2 });
  controller.abort();
  expect(await pending).toBe('AbortError');
}

describe.each(ADAPTERS)('circuit breaker (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  describe.each(ROUTES)('route %s', (route) => {
    it('opens after failures and then answers 503 without calling Claude', async () => {
      // On a manual clock, the wait the refusal announces is exact: the whole reset timeout.
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock }, chat: HELD, proxy: HELD });
      h.fake.setDefault({ faultRate: 1, fault: 529 });
      expect((await call(h, route)).status).toBe(529);
      expect(breaker(h, route).state).toBe('closed');
      expect((await call(h, route)).status).toBe(529);
      expect(breaker(h, route).state).toBe('open');

      const rejected = await call(h, route);
      expect(rejected.status).toBe(503);
      const error = expectAnthropicError(rejected);
      expect(error.type).toBe('overloaded_error');
      expect(error.message).toContain(`route '${route}'`);
      expect(error.message).toContain('circuit breaker is open');
      expect(rejected.headers.get('retry-after')).toBe(String(HELD_OPEN_MS / 1000));
      expect(h.fake.requests).toHaveLength(2);

      const snapshot = breaker(h, route);
      expect(snapshot).toMatchObject({ key: route, routes: [route], state: 'open' });
      expect(snapshot.retryAfterMs).toBe(HELD_OPEN_MS);
      expect(snapshot.counts).toMatchObject({ successes: 0, failures: 2, rejects: 1, neutral: 0 });
      expect(h.events.filter((e) => e.type === 'breaker-open')).toEqual([{ type: 'breaker-open', key: route }]);
      expect(h.events.filter((e) => e.type === 'breaker-rejected')).toHaveLength(1);
      // Other routes keep their own, closed breaker.
      expect(breaker(h, route === 'chat' ? 'proxy' : 'chat').state).toBe('closed');
    });

    it('after resetTimeout lets one trial through, and its success closes the breaker', async () => {
      const h = await start(adapter, { chat: ROUTE, proxy: ROUTE });
      h.fake.enqueue(529, 529);
      await call(h, route);
      await call(h, route);
      // Opened. (Read from the transitions, not the state: 200 ms on a loaded machine may already have
      // brought the half-open by the time this line runs.)
      expect(transitions(h)[0]).toBe('breaker-open');
      await waitForState(h, route, 'half-open');
      const trial = await call(h, route);
      expect(trial.status).toBe(200);
      expect(breaker(h, route).state).toBe('closed');
      expect((await call(h, route)).status).toBe(200);
      expect(h.fake.requests).toHaveLength(4);
      expect(h.events.filter((e) => e.type.startsWith('breaker-')).map((e) => e.type)).toEqual([
        'breaker-open',
        'breaker-half-open',
        'breaker-close',
      ]);
    });

    it('a failed trial opens the breaker again', async () => {
      // On a manual clock the breaker's half-open comes on `advance()` only: the failed trial's new
      // resetTimeout cannot run out before the next call, however slow the round trip.
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock }, chat: ROUTE, proxy: ROUTE });
      h.fake.setDefault({ faultRate: 1, fault: 529 });
      await call(h, route);
      await call(h, route);
      expect(breaker(h, route).state).toBe('open');
      clock.advance(BREAKER.resetTimeout);
      expect(breaker(h, route).state).toBe('half-open');
      expect((await call(h, route)).status).toBe(529);
      expect(breaker(h, route).state).toBe('open');
      expect((await call(h, route)).status).toBe(503);
      expect(h.fake.requests).toHaveLength(3);
      expect(transitions(h)).toEqual(['breaker-open', 'breaker-half-open', 'breaker-open']);
    });

    it('half-open lets exactly one of several concurrent requests through', async () => {
      const h = await start(adapter, { chat: ROUTE, proxy: ROUTE });
      h.fake.enqueue(529, 529, { kind: 'delay-headers', ms: 100 });
      await call(h, route);
      await call(h, route);
      await waitForState(h, route, 'half-open');
      // The trial's headers come on a held timer: it is surely in flight while the other two arrive.
      const timers = heldTimers();
      try {
        const refused: number[] = [];
        const all = [call(h, route), call(h, route), call(h, route)].map((answer) =>
          answer.then((result) => {
            if (result.status === 503) refused.push(result.status);
            return result;
          }),
        );
        await timers.until(() => refused.length === 2 && h.fake.requests.length === 3, 'two calls were not refused');
        timers.advance(100);
        const results = await Promise.all(all);
        expect(results.map((r) => r.status).sort()).toEqual([200, 503, 503]);
        expect(h.fake.requests).toHaveLength(3);
        expect(breaker(h, route).state).toBe('closed');
      } finally {
        timers.release();
      }
    });

    it('4xx answers do not open it', async () => {
      const h = await start(adapter, { chat: ROUTE, proxy: ROUTE });
      h.fake.enqueue(400, 401, 404, 429, 400);
      for (const status of [400, 401, 404, 429, 400]) expect((await call(h, route)).status).toBe(status);
      const snapshot = breaker(h, route);
      expect(snapshot.state).toBe('closed');
      expect(snapshot.counts).toMatchObject({ failures: 0, successes: 5, rejects: 0 });
      expect((await call(h, route)).status).toBe(200);
      expect(h.fake.requests).toHaveLength(6);
    });

    it("the caller's own short deadline does not open it", async () => {
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock }, chat: ROUTE, proxy: ROUTE });
      h.fake.setDefault({ faultRate: 1, fault: LATE_HEADERS });
      const header = { 'x-request-timeout-ms': String(DEADLINE_MS) };
      for (let i = 0; i < 3; i++) {
        expect((await runOutAtUpstream(h.fake, clock, () => call(h, route, header))).status).toBe(504);
      }
      await h.fake.settled();
      const snapshot = breaker(h, route);
      expect(snapshot.state).toBe('closed');
      expect(snapshot.counts).toMatchObject({ failures: 0, neutral: 3 });
      expect(h.fake.requests).toHaveLength(3);
    });

    it("the route's own deadline running out does count", async () => {
      const clock = manualClock();
      // The rolling window follows the manual clock: it spans both deadlines, as the 10 s one spanned 2 x 50 ms.
      const limited = {
        ...HELD,
        breaker: { ...HELD.breaker, rollingCountTimeout: 10 * DEADLINE_MS },
        deadline: { defaultMs: DEADLINE_MS },
      };
      const h = await start(adapter, { guard: { clock }, chat: limited, proxy: limited });
      h.fake.setDefault({ faultRate: 1, fault: LATE_HEADERS });
      expect((await runOutAtUpstream(h.fake, clock, () => call(h, route))).status).toBe(504);
      expect((await runOutAtUpstream(h.fake, clock, () => call(h, route))).status).toBe(504);
      expect(breaker(h, route).state).toBe('open');
      expect((await call(h, route)).status).toBe(503);
      await h.fake.settled();
      expect(h.fake.requests).toHaveLength(2);
    });

    it('client disconnects do not open it', async () => {
      const h = await start(adapter, { chat: ROUTE, proxy: ROUTE });
      h.fake.enqueue(
        { kind: 'delay-headers', ms: 5000 },
        { kind: 'delay-headers', ms: 5000 },
        { kind: 'delay-headers', ms: 5000 },
      );
      const path = route === 'chat' ? '/chat' : '/v1/messages';
      const body =
        route === 'chat'
          ? { message: 'hi' }
          : { model: 'claude-sonnet-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] };
      for (let i = 0; i < 3; i++) await abortMidway(h, path, body);
      await h.fake.settled();
      expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted', 'client-aborted', 'client-aborted']);
      await h.waitForLogs(3);
      expect(h.logs.map((l) => l.record.outcome)).toEqual(['client-aborted', 'client-aborted', 'client-aborted']);
      const snapshot = breaker(h, route);
      expect(snapshot.state).toBe('closed');
      expect(snapshot.counts).toMatchObject({ failures: 0, successes: 0, neutral: 3 });
      expect((await call(h, route)).status).toBe(200);
    });
  });

  it('routes naming the same breaker.key share one breaker', async () => {
    const shared = {
      retry: { maxAttempts: 1 },
      breaker: { ...BREAKER, resetTimeout: HELD_OPEN_MS, key: 'claude-main' },
    };
    const h = await start(adapter, {
      routes: [
        { kind: 'chat', path: '/a', options: { route: 'chat-a', ...shared } },
        { kind: 'chat', path: '/b', options: { route: 'chat-b', ...shared } },
      ],
    });
    h.fake.enqueue(529, 500);
    expect((await h.send('/a', { message: 'hi' })).status).toBe(529);
    expect((await h.send('/a', { message: 'hi' })).status).toBe(500);
    const rejected = await h.send('/b', { message: 'hi' });
    expect(rejected.status).toBe(503);
    expect(expectAnthropicError(rejected).message).toContain("route 'chat-b'");
    expect(h.fake.requests).toHaveLength(2);
    const snapshot = breaker(h, 'claude-main');
    expect(snapshot.routes).toEqual(['chat-a', 'chat-b']);
    expect(snapshot.state).toBe('open');
    expect(snapshot.counts).toMatchObject({ failures: 2, rejects: 1 });
    // Routes without the key are unaffected.
    expect((await h.chat()).status).toBe(200);
    expect(
      h.guard
        .status()
        .breakers.map((b) => b.key)
        .sort(),
    ).toEqual(['batch', 'chat', 'claude-main', 'proxy']);
  });

  it('breaker.enabled: false never rejects', async () => {
    const h = await start(adapter, { chat: { retry: { maxAttempts: 1 }, breaker: { ...BREAKER, enabled: false } } });
    h.fake.enqueue(529, 529, 529, 529);
    for (let i = 0; i < 4; i++) expect((await h.chat()).status).toBe(529);
    expect(h.fake.requests).toHaveLength(4);
    expect(h.guard.status().breakers.map((b) => b.key)).not.toContain('chat');
  });
});

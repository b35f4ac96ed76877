import type { BreakerSnapshot, RouteOptions } from '@claude-guard/core';
import { describe, expect, it, vi } from 'vitest';
import { ADAPTERS, NO_RESERVE, expectAnthropicError, useStack, type Stack } from '../support/index.js';

type RouteKind = 'chat' | 'proxy';
const ROUTES: RouteKind[] = ['chat', 'proxy'];

const BREAKER = { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: 200 };
// One attempt per request, so every request is one breaker call.
const ROUTE: Omit<RouteOptions, 'route'> = { retry: { maxAttempts: 1 }, breaker: BREAKER };

function call(h: Stack, route: RouteKind, headers: Record<string, string> = {}) {
  return route === 'chat' ? h.chat(headers) : h.proxy(headers);
}

function breaker(h: Stack, key: string): BreakerSnapshot {
  const found = h.guard.status().breakers.find((b) => b.key === key);
  if (!found) throw new Error(`no breaker ${key}`);
  return found;
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
      const h = await start(adapter, { chat: ROUTE, proxy: ROUTE });
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
      expect(rejected.headers.get('retry-after')).toBe('1');
      expect(h.fake.requests).toHaveLength(2);

      const snapshot = breaker(h, route);
      expect(snapshot).toMatchObject({ key: route, routes: [route], state: 'open' });
      expect(snapshot.retryAfterMs).toBeGreaterThan(0);
      expect(snapshot.retryAfterMs).toBeLessThanOrEqual(200);
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
      expect(breaker(h, route).state).toBe('open');
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
      const h = await start(adapter, { chat: ROUTE, proxy: ROUTE });
      h.fake.setDefault({ faultRate: 1, fault: 529 });
      await call(h, route);
      await call(h, route);
      await waitForState(h, route, 'half-open');
      expect((await call(h, route)).status).toBe(529);
      expect(breaker(h, route).state).toBe('open');
      expect((await call(h, route)).status).toBe(503);
      expect(h.fake.requests).toHaveLength(3);
    });

    it('half-open lets exactly one of several concurrent requests through', async () => {
      const h = await start(adapter, { chat: ROUTE, proxy: ROUTE });
      h.fake.enqueue(529, 529, { kind: 'delay-headers', ms: 100 });
      await call(h, route);
      await call(h, route);
      await waitForState(h, route, 'half-open');
      const results = await Promise.all([call(h, route), call(h, route), call(h, route)]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 503, 503]);
      expect(h.fake.requests).toHaveLength(3);
      expect(breaker(h, route).state).toBe('closed');
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
      const h = await start(adapter, { chat: ROUTE, proxy: ROUTE });
      h.fake.setDefault({ faultRate: 1, fault: { kind: 'delay-headers', ms: 2000 } });
      for (let i = 0; i < 3; i++) expect((await call(h, route, { 'x-request-timeout-ms': '50' })).status).toBe(504);
      await h.fake.settled();
      const snapshot = breaker(h, route);
      expect(snapshot.state).toBe('closed');
      expect(snapshot.counts).toMatchObject({ failures: 0, neutral: 3 });
      expect(h.fake.requests).toHaveLength(3);
    });

    it("the route's own deadline running out does count", async () => {
      const limited = { ...ROUTE, deadline: { defaultMs: 50 } };
      const h = await start(adapter, { chat: limited, proxy: limited });
      h.fake.setDefault({ faultRate: 1, fault: { kind: 'delay-headers', ms: 2000 } });
      expect((await call(h, route)).status).toBe(504);
      expect((await call(h, route)).status).toBe(504);
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
    const shared = { retry: { maxAttempts: 1 }, breaker: { ...BREAKER, key: 'claude-main' } };
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

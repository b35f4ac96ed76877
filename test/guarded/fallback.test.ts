import type { RouteOptions } from '@claude-guard/core';
import { describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  FALLBACK_MODEL,
  LATE_HEADERS,
  MANUAL_DEADLINE_MS,
  MODEL,
  NO_RESERVE,
  expectAnthropicError,
  manualClock,
  runOutAtUpstream,
  useStack,
  type Stack,
} from '../support/index.js';

type RouteKind = 'chat' | 'proxy';
const ROUTES: RouteKind[] = ['chat', 'proxy'];
const WITH_FALLBACK: Omit<RouteOptions, 'route'> = { fallback: { model: FALLBACK_MODEL } };

function call(h: Stack, route: RouteKind, headers: Record<string, string> = {}) {
  return route === 'chat' ? h.chat(headers) : h.proxy(headers);
}

function models(h: Stack): unknown[] {
  return h.fake.requests.map((r) => (r.body as { model?: unknown }).model);
}

describe.each(ADAPTERS)('fallback (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  describe.each(ROUTES)('route %s', (route) => {
    it('answers from the fallback model once retries are exhausted', async () => {
      const h = await start(adapter, { chat: WITH_FALLBACK, proxy: WITH_FALLBACK });
      h.fake.enqueue(529, 529, 529, 'ok');
      const result = await call(h, route, { 'x-request-id': 'fb-1' });
      expect(result.status).toBe(200);
      if (route === 'proxy') expect(result.body).toMatchObject({ type: 'message', model: FALLBACK_MODEL });
      else expect(result.body.text).toContain('zebra');
      expect(models(h)).toEqual([MODEL, MODEL, MODEL, FALLBACK_MODEL]);
      expect(h.fake.requests.at(-1)!.headers['x-stainless-retry-count']).toBe('0');
      await h.waitForLogs(1);
      expect(h.logs[0]!.record).toMatchObject({
        requestId: 'fb-1',
        status: 200,
        outcome: 'fallback',
        model: FALLBACK_MODEL,
      });
    });

    it('answers from the fallback model when the breaker is open, without touching the primary', async () => {
      const options = {
        ...WITH_FALLBACK,
        retry: { maxAttempts: 1 },
        breaker: { volumeThreshold: 1, resetTimeout: 60_000 },
      };
      const h = await start(adapter, { chat: options, proxy: options });
      h.fake.enqueue(529, 'ok', 'ok');
      // The 529 opens the breaker (and the fallback answers it)...
      expect((await call(h, route)).status).toBe(200);
      expect(h.guard.status().breakers.find((b) => b.key === route)!.state).toBe('open');
      // ...so the next request goes to the fallback model only.
      const result = await call(h, route);
      expect(result.status).toBe(200);
      expect(models(h)).toEqual([MODEL, FALLBACK_MODEL, FALLBACK_MODEL]);
      expect(h.events.filter((e) => e.type === 'breaker-rejected')).toHaveLength(1);
    });

    it('is not used for a client error', async () => {
      const h = await start(adapter, { chat: WITH_FALLBACK, proxy: WITH_FALLBACK });
      h.fake.enqueue(400, 'ok');
      const result = await call(h, route);
      expect(result.status).toBe(400);
      expect(models(h)).toEqual([MODEL]);
    });

    it("is not used when the caller's deadline ran out", async () => {
      // The deadline runs out on a manual clock once the upstream has the request (on real time, a loaded
      // machine could spend a short one before the attempt reached the fake).
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock }, chat: WITH_FALLBACK, proxy: WITH_FALLBACK });
      h.fake.enqueue(LATE_HEADERS, 'ok');
      const deadline = { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) };
      const result = await runOutAtUpstream(h.fake, clock, () => call(h, route, deadline));
      expect(result.status).toBe(504);
      await h.fake.settled();
      expect(models(h)).toEqual([MODEL]);
    });

    it('answers with the original error when the fallback fails too', async () => {
      const h = await start(adapter, { chat: WITH_FALLBACK, proxy: WITH_FALLBACK });
      h.fake.enqueue(529, 529, 529, 500);
      const result = await call(h, route);
      expect(result.status).toBe(529);
      expect(expectAnthropicError(result).type).toBe('overloaded_error');
      expect(models(h)).toEqual([MODEL, MODEL, MODEL, FALLBACK_MODEL]);
    });

    it('a function fallback computes the answer', async () => {
      const canned = {
        id: 'msg_canned',
        type: 'message',
        role: 'assistant',
        model: 'canned',
        content: [{ type: 'text', text: 'Please try again later.' }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      };
      const reasons: string[] = [];
      const fallback = (context: { reason: string; route: string }) => {
        reasons.push(`${context.route}:${context.reason}`);
        return canned;
      };
      const h = await start(adapter, { chat: { fallback }, proxy: { fallback } });
      h.fake.enqueue(503, 503, 503);
      const result = await call(h, route);
      expect(result.status).toBe(200);
      if (route === 'proxy') expect(result.body).toEqual(canned);
      else expect(result.body.text).toBe('Please try again later.');
      expect(reasons).toEqual([`${route}:exhausted`]);
      expect(h.fake.requests).toHaveLength(3);
    });
  });
});

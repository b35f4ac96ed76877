import { describe, expect, it } from 'vitest';
import { ADAPTERS, NO_RESERVE, expectAnthropicError, retryCounts, useStack, type Stack } from '../support/index.js';

type RouteKind = 'chat' | 'proxy';
const ROUTES: RouteKind[] = ['chat', 'proxy'];

function call(h: Stack, route: RouteKind, headers: Record<string, string> = {}) {
  return route === 'chat' ? h.chat(headers) : h.proxy(headers);
}

describe.each(ADAPTERS)('retry policy (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  describe.each(ROUTES)('route %s', (route) => {
    it.each([529, 500, 503, 429])('retries a %d and answers 200 after 2 upstream attempts', async (status) => {
      const h = await start(adapter);
      h.fake.enqueue(status, 'ok');
      const result = await call(h, route);
      expect(result.status).toBe(200);
      if (route === 'chat') expect(result.body.text).toContain('zebra');
      else expect(result.body).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-sonnet-5' });
      expect(h.fake.requests.map((r) => r.status)).toEqual([status, 200]);
      // The guard calls the SDK with maxRetries 0: the upstream never sees an SDK retry.
      expect(retryCounts(h.fake)).toEqual(['0', '0']);
    });

    it.each([
      [400, 'invalid_request_error'],
      [401, 'authentication_error'],
      [403, 'permission_error'],
      [404, 'not_found_error'],
    ])('does not retry a %d and answers with it', async (status, type) => {
      const h = await start(adapter);
      h.fake.enqueue({ kind: 'status', status, message: 'upstream says no' }, 'ok');
      const result = await call(h, route);
      expect(result.status).toBe(status);
      const error = expectAnthropicError(result);
      expect(error.type).toBe(type);
      // The passthrough forwards (redacted) client errors; a guarded route words them itself.
      expect(error.message).toBe(
        route === 'proxy' ? 'upstream says no' : `The Claude API answered ${status} ${type} (route 'chat', 1 attempt)`,
      );
      expect(h.fake.requests).toHaveLength(1);
      expect(result.headers.get('x-upstream-request-id')).toBe(h.fake.requests[0]!.id);
    });

    it('obeys x-should-retry: false on a 529', async () => {
      const h = await start(adapter);
      h.fake.enqueue({ kind: 'status', status: 529, headers: { 'x-should-retry': 'false' } }, 'ok');
      const result = await call(h, route);
      expect(result.status).toBe(529);
      expect(expectAnthropicError(result).type).toBe('overloaded_error');
      expect(h.fake.requests).toHaveLength(1);
    });

    it('waits as long as retry-after-ms says', async () => {
      // random() = 0.99 makes the jittered backoff 0-4 ms, so a 40 ms wait can only come from the header.
      const h = await start(adapter, { guard: { random: () => 0.99 } });
      h.fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after-ms': '40' } }, 'ok');
      const result = await call(h, route);
      expect(result.status).toBe(200);
      expect(h.fake.requests).toHaveLength(2);
      expect(h.events.filter((e) => e.type === 'retry')).toEqual([
        expect.objectContaining({ type: 'retry', route, attempt: 1, delayMs: 40 }),
      ]);
    });

    it('stops at once when retry-after does not fit in the deadline, passing the 429 and its retry-after on', async () => {
      const h = await start(adapter);
      h.fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '30' } }, 'ok');
      const result = await call(h, route, { 'x-request-timeout-ms': '2000' });
      expect(result.status).toBe(429);
      expect(expectAnthropicError(result).type).toBe('rate_limit_error');
      expect(result.headers.get('retry-after')).toBe('30');
      expect(h.fake.requests).toHaveLength(1);
      expect(h.events.find((e) => e.type === 'give-up')).toMatchObject({
        reason: 'wait-exceeds-deadline',
        attempts: 1,
      });
    });

    it('makes 3 attempts by default, then answers with the last upstream status', async () => {
      const h = await start(adapter);
      h.fake.enqueue(529, 529, 529, 'ok');
      const result = await call(h, route);
      expect(result.status).toBe(529);
      const error = expectAnthropicError(result);
      expect(error.type).toBe('overloaded_error');
      expect(error.message).toBe(`The Claude API answered 529 overloaded_error (route '${route}', 3 attempts)`);
      expect(h.fake.requests).toHaveLength(3);
      expect(retryCounts(h.fake)).toEqual(['0', '0', '0']);
      expect(result.headers.get('x-upstream-request-id')).toBe(h.fake.requests[2]!.id);
    });

    it('honours the route retry.maxAttempts', async () => {
      const h = await start(adapter, { chat: { retry: { maxAttempts: 5 } }, proxy: { retry: { maxAttempts: 5 } } });
      h.fake.enqueue(500, 500, 500, 500, 'ok');
      const result = await call(h, route);
      expect(result.status).toBe(200);
      expect(h.fake.requests).toHaveLength(5);
    });

    it('retries a connection reset before headers', async () => {
      const h = await start(adapter);
      h.fake.enqueue({ kind: 'reset' }, 'ok');
      const result = await call(h, route);
      expect(result.status).toBe(200);
      await h.fake.settled();
      expect(h.fake.requests.map((r) => r.outcome)).toEqual(['reset', 'completed']);
      expect(retryCounts(h.fake)).toEqual(['0', '0']);
    });

    it('answers 502 when every attempt is reset', async () => {
      const h = await start(adapter);
      h.fake.setDefault({ faultRate: 1, fault: { kind: 'reset' } });
      const result = await call(h, route);
      expect(result.status).toBe(502);
      const error = expectAnthropicError(result);
      expect(error.type).toBe('api_error');
      expect(error.message).toBe(`Could not reach the Claude API (route '${route}', 3 attempts)`);
      expect(h.fake.requests).toHaveLength(3);
    });

    it('retries a truncated 200 body', async () => {
      const h = await start(adapter);
      h.fake.enqueue({ kind: 'reset', afterEvents: 0 }, 'ok');
      const result = await call(h, route);
      expect(result.status).toBe(200);
      expect(h.fake.requests).toHaveLength(2);
    });
  });
});

import { describe, expect, it } from 'vitest';
import { ADAPTERS, API_KEY, NO_RESERVE, expectAnthropicError, useStack, type HttpResult } from '../support/index.js';

const GENERATED_ID = /^cg_[A-Za-z0-9_-]{24}$/;
const FAMILIES = ['requests', 'tokens', 'input-tokens', 'output-tokens'];
const RATE_LIMIT_HEADERS = FAMILIES.flatMap((f) =>
  ['limit', 'remaining', 'reset'].map((k) => `anthropic-ratelimit-${f}-${k}`),
);

function expectNoSecret(result: HttpResult): void {
  expect(result.text).not.toContain(API_KEY);
  result.headers.forEach((value, name) => {
    expect(value, name).not.toContain(API_KEY);
  });
}

describe.each(ADAPTERS)('errors and correlation (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  describe('x-request-id', () => {
    it('echoes a well-formed incoming id on a guarded route, in the header and the body', async () => {
      const h = await start(adapter);
      const ok = await h.chat({ 'x-request-id': 'trace.42_A-b' });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-request-id')).toBe('trace.42_A-b');
      expect(ok.body.request_id).toBe('trace.42_A-b');

      h.fake.enqueue(400);
      const failed = await h.chat({ 'x-request-id': 'trace.43' });
      expect(failed.status).toBe(400);
      expectAnthropicError(failed);
      expect(failed.body.request_id).toBe('trace.43');
    });

    it('echoes it on the passthrough, on success and on errors', async () => {
      const h = await start(adapter);
      const ok = await h.proxy({ 'x-request-id': 'trace-1' });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-request-id')).toBe('trace-1');

      const bad = await h.proxy({ 'x-request-id': 'trace-2' }, { max_tokens: 0 });
      expect(bad.status).toBe(400);
      expectAnthropicError(bad);
      expect(bad.body.request_id).toBe('trace-2');

      const deadline = await h.proxy({ 'x-request-id': 'trace-3', 'x-request-timeout-ms': 'soon' });
      expect(deadline.status).toBe(400);
      expect(deadline.body.request_id).toBe('trace-3');
    });

    it.each([
      ['contains characters outside the safe set', 'bad id!'],
      ['is too long', 'a'.repeat(200)],
    ])('replaces an id that %s with a generated one', async (_why, id) => {
      const h = await start(adapter);
      const ok = await h.chat({ 'x-request-id': id });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('x-request-id')).toMatch(GENERATED_ID);
      expect(ok.body.request_id).toBe(ok.headers.get('x-request-id'));

      h.fake.enqueue(529, 529, 529);
      const failed = await h.proxy({ 'x-request-id': id });
      expect(failed.status).toBe(529);
      expectAnthropicError(failed);
      expect(failed.body.request_id).toMatch(GENERATED_ID);
      expect(failed.body.request_id).not.toBe(ok.body.request_id);
      expect(failed.text).not.toContain(id);
    });

    it('generates a fresh id for each request without one', async () => {
      const h = await start(adapter);
      const first = await h.chat();
      const second = await h.chat();
      expect(first.body.request_id).toMatch(GENERATED_ID);
      expect(second.body.request_id).toMatch(GENERATED_ID);
      expect(first.body.request_id).not.toBe(second.body.request_id);
    });
  });

  describe('upstream request id and headers', () => {
    it('the passthrough forwards request-id, x-upstream-request-id and the rate-limit headers', async () => {
      const h = await start(adapter);
      h.fake.enqueue(529, 'ok');
      const result = await h.proxy();
      expect(result.status).toBe(200);
      const upstream = h.fake.requests[1]!.id;
      expect(result.headers.get('request-id')).toBe(upstream);
      expect(result.headers.get('x-upstream-request-id')).toBe(upstream);
      for (const name of RATE_LIMIT_HEADERS) expect(result.headers.get(name), name).toMatch(/\S/);
      expect(result.headers.get('anthropic-ratelimit-requests-limit')).toBe('4000');
      expect(Number(result.headers.get('anthropic-ratelimit-requests-remaining'))).toBeLessThan(4000);
    });

    it('error responses name the upstream request in x-upstream-request-id', async () => {
      const h = await start(adapter);
      h.fake.enqueue(403);
      const chat = await h.chat();
      expect(chat.status).toBe(403);
      expect(chat.headers.get('x-upstream-request-id')).toBe(h.fake.requests[0]!.id);

      h.fake.enqueue(500, 500, 500);
      const proxy = await h.proxy();
      expect(proxy.status).toBe(500);
      expect(proxy.headers.get('x-upstream-request-id')).toBe(h.fake.requests[3]!.id);
    });

    it('errors that never reached Claude carry no x-upstream-request-id', async () => {
      const h = await start(adapter);
      const result = await h.chat({ 'x-request-timeout-ms': '0' });
      expect(result.status).toBe(504);
      expect(result.headers.get('x-upstream-request-id')).toBeNull();
    });
  });

  describe('the API key', () => {
    it('is redacted from a forwarded upstream 4xx message on the passthrough', async () => {
      const h = await start(adapter);
      h.fake.enqueue({ kind: 'status', status: 400, message: 'bad request', echoApiKey: true });
      const result = await h.proxy();
      expect(result.status).toBe(400);
      const error = expectAnthropicError(result);
      expect(error.type).toBe('invalid_request_error');
      expect(error.message).toBe('bad request (api key: [redacted])');
      expectNoSecret(result);
      // The fake really did echo it: the guard scrubbed it.
      expect(h.fake.requests[0]!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    });

    it.each([401, 403, 404, 429, 500, 529])('never appears in any response to a %d, on any route', async (status) => {
      const h = await start(adapter, { guard: { retry: { maxAttempts: 1 } } });
      const fault = { kind: 'status' as const, status, echoApiKey: true };
      h.fake.enqueue(fault, fault, fault);
      const results = [await h.proxy(), await h.chat(), await h.send('/run', { message: 'hi' })];
      for (const result of results) {
        expect(result.status).toBe(status);
        expectAnthropicError(result);
        expectNoSecret(result);
      }
    });

    it('is not sent to the caller of a failed guarded route in the message either', async () => {
      const h = await start(adapter);
      h.fake.enqueue({ kind: 'status', status: 400, message: 'bad request', echoApiKey: true });
      const result = await h.chat();
      expect(result.status).toBe(400);
      expect(expectAnthropicError(result).message).toBe(
        "The Claude API answered 400 invalid_request_error (route 'chat', 1 attempt)",
      );
    });
  });

  it('an error thrown by the handler itself becomes a generic, Anthropic-shaped 500', async () => {
    const h = await start(adapter);
    const result = await h.chat({ 'x-request-id': 'trace-500' }, { via: 'throw' });
    expect(result.status).toBe(500);
    const error = expectAnthropicError(result);
    expect(error.type).toBe('api_error');
    expect(error.message).toBe("Internal error in route 'chat'");
    expect(result.body.request_id).toBe('trace-500');
    expectNoSecret(result);
    expect(result.text).not.toContain('handler bug');
    expect(h.fake.requests).toHaveLength(0);
  });
});

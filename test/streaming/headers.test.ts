import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard } from '@claude-guard/core';
import { createFakeAnthropic } from '@claude-guard/fake-anthropic';
import { afterEach, describe, expect, it } from 'vitest';
import { ADAPTERS, isCompleteAnthropicStream, params, readSse, startStack, type Stack } from '../support/index.js';

let h: Stack | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};

function pick(headers: Headers, names: readonly string[]): Record<string, string | null> {
  return Object.fromEntries(names.map((name) => [name, headers.get(name)]));
}

describe.each(ADAPTERS)('streaming via %s: response headers', (adapter) => {
  it('/v1/messages: SSE headers, our request id, and the upstream request id', async () => {
    h = await startStack({ adapter });

    const response = await h.post(
      '/v1/messages',
      { ...params(), stream: true },
      { headers: { 'x-request-id': 'trace-abc-123' } },
    );
    await readSse(response);

    expect(pick(response.headers, Object.keys(SSE_HEADERS))).toEqual(SSE_HEADERS);
    expect(response.headers.get('x-request-id')).toBe('trace-abc-123');
    expect(response.headers.get('x-upstream-request-id')).toBe(h.fake.requests[0]?.id);
    expect(response.headers.get('content-length')).toBeNull();
  });

  it('/chat (text format): SSE headers and a generated request id', async () => {
    h = await startStack({ adapter });

    const response = await h.post('/chat', { message: 'hello there', stream: true });
    await readSse(response);

    expect(pick(response.headers, Object.keys(SSE_HEADERS))).toEqual(SSE_HEADERS);
    expect(response.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(response.headers.get('x-request-id')).toBe((await h.logLine()).requestId);
  });

  it('a stream committed by a heartbeat has the same SSE headers', async () => {
    h = await startStack({ adapter, guard: { stream: { heartbeatMs: 20 } } });
    h.fake.enqueue({ kind: 'slow', firstEventDelayMs: 150 });

    const response = await h.post('/v1/messages', { ...params(), stream: true });
    const events = await readSse(response);

    expect(events[0]?.event).toBe('ping');
    expect(pick(response.headers, Object.keys(SSE_HEADERS))).toEqual(SSE_HEADERS);
    expect(response.headers.get('x-request-id')).not.toBeNull();
  });
});

describe('streaming in-process: the core Response', () => {
  it('sets only what it controls: no transfer-encoding, connection or content-length of its own', async () => {
    const fake = await createFakeAnthropic();
    const guard = createClaudeGuard({ client: new Anthropic({ apiKey: 'sk-ant-test', baseURL: fake.url }) });
    try {
      const response = await guard.route({ route: 'in-process' }).proxy(
        new Request('http://localhost/v1/messages', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': 'in-proc-1' },
          body: JSON.stringify({ ...params(), stream: true }),
        }),
      );

      expect(response.status).toBe(200);
      expect(pick(response.headers, Object.keys(SSE_HEADERS))).toEqual(SSE_HEADERS);
      expect(response.headers.get('x-request-id')).toBe('in-proc-1');
      for (const name of ['transfer-encoding', 'connection', 'keep-alive', 'content-length', 'content-encoding']) {
        expect(response.headers.has(name), name).toBe(false);
      }
      expect(isCompleteAnthropicStream(await readSse(response))).toBe(true);
    } finally {
      guard.close();
      await fake.close();
    }
  });
});

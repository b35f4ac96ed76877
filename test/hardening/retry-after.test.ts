import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  MODEL,
  startHostileUpstream,
  startStack,
  type HostileUpstream,
  type Stack,
} from '../support/index.js';

// Issue 10 item 11: `retry-after: 99999999999999999999999` came out as `retry-after: 1e+23`. The
// guard caps what it reads at 6 hours and always writes a non-negative integer of seconds.

const CASES = [
  { name: 'a 23-digit number of seconds', headers: { 'retry-after': '99999999999999999999999' }, expected: '21600' },
  {
    name: 'an HTTP date in the year 9999',
    headers: { 'retry-after': 'Fri, 31 Dec 9999 23:59:59 GMT' },
    expected: '21600',
  },
  { name: 'an HTTP date in the past', headers: { 'retry-after': 'Thu, 01 Jan 1970 00:00:00 GMT' }, expected: '0' },
  { name: 'a 26-digit retry-after-ms', headers: { 'retry-after-ms': '99999999999999999999999999' }, expected: '21600' },
  { name: 'a fraction of a second', headers: { 'retry-after': '0.004' }, expected: '1' },
  { name: 'garbage (a word)', headers: { 'retry-after': 'soon' }, expected: null },
  { name: 'garbage (an exponent)', headers: { 'retry-after': '1e3' }, expected: null },
  { name: 'garbage (negative)', headers: { 'retry-after': '-5' }, expected: null },
] as const;

const VARIANTS = [
  { name: 'proxy', path: '/v1/messages', stream: false },
  { name: 'proxy stream', path: '/v1/messages', stream: true },
  { name: 'chat', path: '/chat', stream: false },
  { name: 'chat stream', path: '/chat', stream: true },
] as const;

function body(path: string, prompt: string, stream: boolean): Record<string, unknown> {
  return path === '/chat'
    ? { message: prompt, stream }
    : { model: MODEL, max_tokens: 16, stream, messages: [{ role: 'user', content: prompt }] };
}

describe.each(ADAPTERS)('an upstream retry-after is passed on as a capped integer (%s)', (adapter) => {
  let upstream: HostileUpstream;
  let h: Stack;

  beforeAll(async () => {
    upstream = await startHostileUpstream(({ res, body: text }) => {
      const prompt = (JSON.parse(text) as { messages: { content: string }[] }).messages[0]!.content;
      const headers = CASES[Number(prompt)]!.headers;
      res.writeHead(429, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'Rate limited' } }));
    });
    // Rate-limit awareness off: with it, the first 429 pauses the client for its retry-after and the next
    // requests are answered by the guard without reaching this upstream (test/guarded/admission.test.ts).
    h = await startStack({
      adapter,
      upstreamUrl: upstream.url,
      guard: { breaker: { enabled: false }, rateLimits: { enabled: false } },
    });
  });
  afterAll(async () => {
    await h.close();
    await upstream.close();
  });

  it.each(CASES.map((testCase, index) => [testCase.name, index] as const))('%s', async (_name, index) => {
    const { expected } = CASES[index]!;
    for (const variant of VARIANTS) {
      const before = upstream.requests();
      const response = await h.post(variant.path, body(variant.path, String(index), variant.stream));
      await response.text();
      expect(upstream.requests(), variant.name).toBeGreaterThan(before);
      expect(response.status, variant.name).toBe(429);
      const header = response.headers.get('retry-after');
      expect(header, variant.name).toBe(expected);
      if (header !== null) expect(header, variant.name).toMatch(/^(?:0|[1-9]\d*)$/);
    }
  });
});

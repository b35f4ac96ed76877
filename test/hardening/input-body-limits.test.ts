import { afterEach, describe, expect, it } from 'vitest';
import { startExpressExample } from '../../examples/express/src/start.js';
import { startHonoExample } from '../../examples/hono/src/start.js';
import { chunked, expectAnthropicError, send, type Answer } from '../input/input-kit.js';

// Issue 10, item 7: every route of both examples that takes a body has a size limit, and an
// over-limit body gets an Anthropic-shaped 413 without reaching Claude.

const silent = { info: () => {} };
const EXAMPLES = [
  ['express', startExpressExample],
  ['hono', startHonoExample],
] as const;

/** Each example route that takes a body, its limit, and a valid body of a given size for it. */
const ROUTES = [
  {
    path: '/v1/messages',
    limit: 1_048_576,
    body: (size: number) =>
      JSON.stringify({
        model: 'claude-sonnet-5',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'x'.repeat(size) }],
      }),
  },
  { path: '/chat', limit: 65_536, body: (size: number) => JSON.stringify({ message: 'x'.repeat(size) }) },
  {
    path: '/demo/fault',
    limit: 4_096,
    body: (size: number) => JSON.stringify({ fault: 'overloaded', padding: 'x'.repeat(size) }),
  },
] as const;

describe.each(EXAMPLES)('body limits of examples/%s', (_name, start) => {
  let app: Awaited<ReturnType<typeof start>> | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function post(path: string, body: BodyInit): Promise<Answer> {
    return send({ base: app!.url }, path, body);
  }

  describe.each(ROUTES)('$path', (route) => {
    it.each([
      ['declared by content-length', (text: string): BodyInit => text],
      ['sent chunked, without content-length', (text: string): BodyInit => chunked(text)],
    ])('a body one past the limit gets 413 request_too_large, %s', async (_how, wrap) => {
      app = await start({ PORT: '0', FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0' }, silent);
      const text = route.body(route.limit);
      expect(new TextEncoder().encode(text).byteLength).toBeGreaterThan(route.limit);
      const answer = await post(route.path, wrap(text));
      expectAnthropicError(answer, 413, 'request_too_large', /too large|exceeds/);
      expect(answer.headers.get('connection')).toBe('close');
      expect(app.upstream.fake!.requests).toHaveLength(0);
    });

    it('a body within the limit is not refused for its size', async () => {
      app = await start({ PORT: '0', FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0' }, silent);
      const answer = await post(route.path, route.body(Math.floor(route.limit / 2)));
      expect(answer.status, answer.text).not.toBe(413);
      expect(answer.status, answer.text).toBeLessThan(500);
    });
  });
});

import Anthropic from '@anthropic-ai/sdk';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { afterEach, describe, expect, it } from 'vitest';
import { startExpressExample } from '../../examples/express/src/start.js';
import { startHonoExample } from '../../examples/hono/src/start.js';
import { eventually, readSse } from '../support/index.js';

// The examples' contract for recovery before the first byte: CLAUDE_GUARD_FALLBACK_BASE_URL and
// CLAUDE_GUARD_FALLBACK_MODEL make one fallback client for the passthrough and /chat;
// CLAUDE_GUARD_HEDGE_MS turns hedging on with that fixed delay.

const silent = { info: () => {} };
const EXAMPLES = [
  ['express', startExpressExample],
  ['hono', startHonoExample],
] as const;
const PARAMS = {
  model: 'claude-sonnet-5',
  max_tokens: 20,
  messages: [{ role: 'user' as const, content: 'hello there' }],
};

describe.each(EXAMPLES)('examples/%s: fallback and hedge from the environment', (_name, start) => {
  let app: Awaited<ReturnType<typeof start>> | undefined;
  let backup: FakeAnthropic | undefined;
  afterEach(async () => {
    await app?.close();
    await backup?.close();
    app = undefined;
    backup = undefined;
  });

  it('serves the passthrough stream and /chat from the fallback client once the primary fails', async () => {
    backup = await createFakeAnthropic({});
    app = await start(
      {
        PORT: '0',
        FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0',
        CLAUDE_GUARD_MAX_ATTEMPTS: '1',
        CLAUDE_GUARD_FALLBACK_BASE_URL: backup.url,
        CLAUDE_GUARD_FALLBACK_MODEL: 'claude-haiku-4-5',
      },
      silent,
    );
    app.upstream.fake!.enqueue(529, 529);
    const client = new Anthropic({ apiKey: 'k', baseURL: app.url, maxRetries: 0 });
    const { data, response } = await client.messages.create({ ...PARAMS, stream: true }).withResponse();
    expect(response.headers.get('x-claude-guard-fallback')).toBe('claude-haiku-4-5');
    const types: string[] = [];
    for await (const event of data) types.push(event.type);
    expect(types.at(-1)).toBe('message_stop');

    const chat = await fetch(`${app.url}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"message":"hi"}',
    });
    expect(chat.status).toBe(200);
    expect(chat.headers.get('x-claude-guard-fallback')).toBe('claude-haiku-4-5');
    expect(backup.requests.map((r) => (r.body as { model: string }).model)).toEqual([
      'claude-haiku-4-5',
      'claude-haiku-4-5',
    ]);
  });

  it('hedges a stalled first event with CLAUDE_GUARD_HEDGE_MS: the hedge answers, the stalled attempt is closed', async () => {
    app = await start({ PORT: '0', FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0', CLAUDE_GUARD_HEDGE_MS: '50' }, silent);
    const fake = app.upstream.fake!;
    fake.enqueue({ kind: 'stall', afterEvents: 0 });
    const response = await fetch(`${app.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...PARAMS, stream: true }),
    });
    expect(response.status).toBe(200);
    expect((await readSse(response)).at(-1)?.event).toBe('message_stop');
    await fake.settled();
    expect(await eventually(() => fake.requests.map((r) => r.outcome), ['client-aborted', 'completed'])).toEqual([
      'client-aborted',
      'completed',
    ]);
  });
});

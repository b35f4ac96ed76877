import { afterEach, describe, expect, it } from 'vitest';
import { startExpressExample } from '../../examples/express/src/start.js';
import { startHonoExample } from '../../examples/hono/src/start.js';

/**
 * Issue 10 item 2: the examples' `/guard/status` handed anyone the exact milliseconds until the
 * half-open moment (and every count), which is what let one client time its requests to pin a
 * breaker open. Public now: each breaker's key, state and a wait in whole seconds.
 */

const silent = { info: () => {} };
const EXAMPLES = [
  ['express', startExpressExample],
  ['hono', startHonoExample],
] as const;

const ENV = {
  PORT: '0',
  FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0',
  CLAUDE_GUARD_MAX_ATTEMPTS: '1',
  CLAUDE_GUARD_BREAKER_VOLUME: '2',
  CLAUDE_GUARD_BREAKER_RESET_MS: '60000',
};

describe.each(EXAMPLES)('examples/%s: the public /guard/status', (_name, start) => {
  let app: Awaited<ReturnType<typeof start>> | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('shows each breaker key, its state and a whole-second wait: no counts, options or milliseconds', async () => {
    app = await start(ENV, silent);
    const fake = app.upstream.fake!;
    fake.enqueue(500, 500);
    const chat = () =>
      fetch(`${app!.url}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"message":"hi"}',
      });
    expect((await chat()).status).toBe(500);
    expect((await chat()).status).toBe(500);
    const refused = await chat();
    expect(refused.status).toBe(503);
    await refused.arrayBuffer();

    const response = await fetch(`${app.url}/guard/status`);
    expect(response.status).toBe(200);
    const status = (await response.json()) as {
      upstream: unknown;
      breakers: Record<string, unknown>[];
      admission: { queues: unknown[]; clients: Record<string, unknown>[] };
    };
    expect(Object.keys(status).sort()).toEqual(['admission', 'breakers', 'upstream']);
    // Per client: a hash of its key, the remaining counts and a hold's reason and whole seconds, nothing more.
    for (const client of status.admission.clients) {
      expect(Object.keys(client).sort()).toEqual(['clientId', 'hold', 'limits'].filter((k) => k in client));
      expect(client['clientId']).toMatch(/^client_[0-9a-f]{16}$/);
    }
    expect(status.upstream).toBe('fake-anthropic');
    for (const breaker of status.breakers)
      expect(Object.keys(breaker).sort()).toEqual(['key', 'retryAfterSeconds', 'state']);
    const byKey = Object.fromEntries(status.breakers.map((b) => [b.key, b]));
    expect(byKey['chat']).toMatchObject({ state: 'open' });
    const wait = byKey['chat']!['retryAfterSeconds'];
    expect(Number.isInteger(wait)).toBe(true);
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(60);
    // The route's 503 tells the same coarse wait.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(wait as number);
    expect(byKey['proxy']).toEqual({ key: 'proxy', state: 'closed', retryAfterSeconds: 0 });
  });
});

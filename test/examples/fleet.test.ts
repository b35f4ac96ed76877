import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startExpressExample } from '../../examples/express/src/start.js';
import { startHonoExample } from '../../examples/hono/src/start.js';
import { freePort, startRedisServer, type RedisServer } from '../../packages/redis/src/testing/redis-server.js';
import { guardStatus, type ExampleGuardStatus } from '../fleet/example-replicas.js';
import { eventually } from '../support/index.js';

// The example contract of fleet mode: CLAUDE_GUARD_REDIS_URL turns it on (CLAUDE_GUARD_REDIS_PREFIX the
// keys' prefix), and /guard/status then says whether the store is connected and shows each breaker's
// fleet-wide counts next to its local ones. Two instances of each example (each with its embedded fake)
// share one real redis-server; the sync runs on real time (500 ms), so the test polls for its result.

const EXAMPLES = [
  ['express', startExpressExample],
  ['hono', startHonoExample],
] as const;
type Running = Awaited<ReturnType<(typeof EXAMPLES)[number][1]>>;

let redis: RedisServer;
const running: Running[] = [];

beforeEach(async () => {
  redis = await startRedisServer();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.close()));
  await redis.stop();
});

const status = (app: Running) => guardStatus(app.url);
const chatOf = (s: ExampleGuardStatus) => s.fleet?.find((entry) => entry.key === 'chat');
const chat = (app: Running) =>
  fetch(`${app.url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message: 'hello fleet' }),
  });

describe.each(EXAMPLES)('examples/%s in fleet mode', (name, start) => {
  it('shares breaker counts between instances and shows them next to the local ones', async () => {
    const env = { PORT: '0', CLAUDE_GUARD_REDIS_URL: redis.url, CLAUDE_GUARD_REDIS_PREFIX: `example-${name}` };
    const a = await start(env);
    running.push(a);
    const b = await start(env);
    running.push(b);
    for (let i = 0; i < 3; i++) expect((await chat(a)).status).toBe(200);
    const seen = await eventually(async () => chatOf(await status(b))?.fleet?.fires, 3, 100, 50);
    expect(seen).toBe(3);
    const fromB = await status(b);
    expect(fromB.store).toEqual({ connected: true });
    expect(chatOf(fromB)?.local.fires).toBe(0);
    expect(chatOf(await status(a))?.local.fires).toBe(3);
  });

  it('with an unreachable CLAUDE_GUARD_REDIS_URL: serves, and says the store is not connected', async () => {
    const a = await start({ PORT: '0', CLAUDE_GUARD_REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    running.push(a);
    expect((await chat(a)).status).toBe(200);
    expect(await eventually(async () => (await status(a)).store?.connected, false, 100, 50)).toBe(false);
    expect(chatOf(await status(a))?.fleet).toBeNull();
  });

  it('without CLAUDE_GUARD_REDIS_URL: /guard/status as before, no store', async () => {
    const a = await start({ PORT: '0' });
    running.push(a);
    const s = await status(a);
    expect(s.store).toBeUndefined();
    expect(s.fleet).toBeUndefined();
  });
});

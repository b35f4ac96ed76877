import Anthropic from '@anthropic-ai/sdk';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRedisServer, type RedisServer } from '../../packages/redis/src/testing/redis-server.js';
import { eventually } from '../support/index.js';
import { guardStatus, startReplica, type ReplicaProcess } from './example-replicas.js';

// Three replicas as three processes (examples/express twice, examples/hono once) in fleet mode on one
// real redis-server, behind a round-robin client (the real SDK, over HTTP, on their passthrough), in
// front of one fake-anthropic in this process that counts every call. The fleet syncs on real time
// (every 250 ms): the test polls /guard/status for what a sync makes true, with no bound tighter than
// the poll's generous overall one.

const VOLUME = 6;
const RESET_MS = 2_000;
const API_KEY = 'sk-ant-fleet-processes-test';

let redis: RedisServer;
let fake: FakeAnthropic;
const replicas: ReplicaProcess[] = [];
let users: Anthropic[];
let next = 0;

beforeAll(async () => {
  [redis, fake] = await Promise.all([startRedisServer(), createFakeAnthropic()]);
  const env = async (): Promise<Record<string, string>> => ({
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    ANTHROPIC_BASE_URL: fake.url,
    ANTHROPIC_API_KEY: API_KEY,
    CLAUDE_GUARD_REDIS_URL: redis.url,
    CLAUDE_GUARD_REDIS_PREFIX: 'fleet-processes-test',
    CLAUDE_GUARD_FLEET_SYNC_MS: '250',
    // A Redis command slower than the 50 ms default on a loaded test machine would let that replica
    // fall back to local state (a local trial, by design); the fleet's behaviour is what is tested here.
    CLAUDE_GUARD_FLEET_COMMAND_TIMEOUT_MS: '2000',
    CLAUDE_GUARD_BREAKER_VOLUME: String(VOLUME),
    CLAUDE_GUARD_BREAKER_RESET_MS: String(RESET_MS),
    CLAUDE_GUARD_BREAKER_WINDOW_MS: '60000',
    CLAUDE_GUARD_MAX_ATTEMPTS: '1',
    OTEL_EXPORTER_OTLP_ENDPOINT: '',
  });
  const started = await Promise.allSettled(
    (['express', 'express', 'hono'] as const).map(async (name) => startReplica(name, await env())),
  );
  for (const result of started) if (result.status === 'fulfilled') replicas.push(result.value);
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  users = replicas.map((r) => new Anthropic({ apiKey: 'unused-by-the-proxy', baseURL: r.url, maxRetries: 0 }));
  expect(await eventually(() => Promise.all(replicas.map(connected)), [true, true, true])).toEqual([true, true, true]);
}, 120_000);

afterAll(async () => {
  await Promise.all(replicas.splice(0).map((r) => r.kill()));
  await Promise.all([fake?.close(), redis?.stop()]);
});

const status = (r: ReplicaProcess) => guardStatus(r.url);
const connected = async (r: ReplicaProcess) => (await status(r)).store?.connected;
const proxyOf = async (r: ReplicaProcess) => (await status(r)).fleet?.find((entry) => entry.key === 'proxy');
const states = () => Promise.all(replicas.map(async (r) => (await proxyOf(r))?.state));
const fleetFires = () => Promise.all(replicas.map(async (r) => (await proxyOf(r))?.fleet?.fires));

/** One request to replica `i`, or (no `i`) to the next one round-robin: 'served' or its error's status. */
async function send(i = next++): Promise<string> {
  try {
    await users[i % users.length]!.messages.create({
      model: 'claude-sonnet-5',
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hello fleet' }],
    });
    return 'served';
  } catch (error) {
    return String((error as { status?: number }).status);
  }
}

describe('three replica processes (Express, Express, Hono) in fleet mode on a real Redis', () => {
  it('open after volumeThreshold calls fleet-wide, not per replica, and then every replica rejects', async () => {
    fake.setDefault({ faultRate: 1, fault: 529 });
    for (let i = 0; i < VOLUME - 1; i++) expect(await send()).toBe('529');
    // Every replica has synced the fleet's five failures (each saw at most two itself).
    const five = Array<number>(3).fill(VOLUME - 1);
    expect(await eventually(fleetFires, five, 200, 50)).toEqual(five);
    expect(await states()).toEqual(['closed', 'closed', 'closed']);
    // The sixth call fleet-wide opens its replica's breaker; the others follow within a sync.
    expect(await send()).toBe('529');
    const open = ['open', 'open', 'open'];
    expect(await eventually(states, open, 200, 50)).toEqual(open);
    expect(await Promise.all([0, 1, 2].map((i) => send(i)))).toEqual(['503', '503', '503']);
    // Six upstream calls for the fleet; three independent breakers would have let eighteen through.
    expect(fake.requests).toHaveLength(VOLUME);
  }, 60_000);

  it('after resetTimeout, 50 concurrent requests over the fleet send exactly one trial upstream', async () => {
    fake.setDefault({ faultRate: 0, firstEventDelayMs: 100 });
    // Each replica's /guard/status moves its breaker to half-open once resetTimeout has gone by.
    const halfOpen = ['half-open', 'half-open', 'half-open'];
    expect(await eventually(states, halfOpen, 200, 50)).toEqual(halfOpen);
    const before = fake.requests.length;
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => send(i)));
    expect(fake.requests.length - before).toBe(1);
    expect(outcomes.filter((o) => o === 'served')).toHaveLength(1);
    expect(outcomes.filter((o) => o === '503')).toHaveLength(49);
    const closed = ['closed', 'closed', 'closed'];
    expect(await eventually(states, closed, 200, 50)).toEqual(closed);
    expect(await Promise.all([0, 1, 2].map((i) => send(i)))).toEqual(['served', 'served', 'served']);
  }, 60_000);

  it("one replica's 429 pauses the others: they answer 429 without calling Claude", async () => {
    fake.setDefault({ faultRate: 0, firstEventDelayMs: 0 });
    fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '600' } });
    const before = fake.requests.length;
    expect(await send(1)).toBe('429');
    const holds = () => Promise.all(replicas.map(async (r) => (await status(r)).admission?.clients[0]?.hold?.reason));
    const paused = ['paused', 'paused', 'paused'];
    expect(await eventually(holds, paused, 200, 50)).toEqual(paused);
    expect(await Promise.all([0, 2].map((i) => send(i)))).toEqual(['429', '429']);
    expect(fake.requests.length - before).toBe(1);
  }, 60_000);
});

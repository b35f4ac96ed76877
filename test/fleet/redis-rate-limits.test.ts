import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, type ClaudeGuard } from '@claude-guard/core';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { createRedisStore } from '@claude-guard/redis';
import { startRedisServer, type RedisServer } from '../../packages/redis/src/testing/redis-server.js';
import { Redis } from 'ioredis';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApp } from '../support/apps.js';
import { eventually, manualClock, params, type ManualClock } from '../support/index.js';

// Three replicas as three guarded apps in this process (two Express, one Hono, each serving the
// passthrough), each guard with its own Redis connection and Anthropic client (one API key: one client
// for the fleet), against one fake upstream and one real redis-server.
// The syncs run when the test advances the shared manual clock; the test polls for what they make true.

const SYNC_MS = 500;
const KEY = 'sk-ant-fleet-rate-limit-test';

let redis: RedisServer;
let fake: FakeAnthropic;
let clock: ManualClock;
let replicas: { guard: ClaudeGuard; user: Anthropic; server: Server }[];
const connections: Redis[] = [];

async function replica(port: number, adapter: 'express' | 'hono') {
  const connection = new Redis({ port, host: '127.0.0.1', enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  connection.on('error', () => undefined); // the guard reports the store's state itself
  connections.push(connection);
  const client = new Anthropic({ apiKey: KEY, baseURL: fake.url, maxRetries: 0 });
  const guard = createClaudeGuard({
    client,
    clock,
    store: createRedisStore({ client: connection, prefix: 'fleet-rl-test' }),
    fleet: { syncIntervalMs: SYNC_MS },
    retry: { maxAttempts: 1 },
    deadline: { defaultMs: 30_000 },
    rateLimits: { enabled: true },
  });
  const { server } = await startApp({
    adapter,
    guard,
    client,
    routes: [{ kind: 'proxy', path: '/v1/messages', options: { route: 'proxy' } }],
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { guard, server, user: new Anthropic({ apiKey: 'unused-by-the-proxy', baseURL: base, maxRetries: 0 }) };
}

/** One request through replica `i`'s passthrough: 'served', or its error's status. */
async function call(i: number): Promise<string> {
  try {
    await replicas[i]!.user.messages.create(params('hi', 16));
    return 'served';
  } catch (error) {
    return String((error as { status?: number }).status);
  }
}

const holds = () => replicas.map((r) => r.guard.status().admission.clients[0]?.hold?.reason);

beforeEach(async () => {
  [redis, fake] = await Promise.all([startRedisServer(), createFakeAnthropic()]);
  clock = manualClock(Date.parse('2026-03-01T12:00:00.000Z'));
  replicas = await Promise.all((['express', 'express', 'hono'] as const).map((a) => replica(redis.port, a)));
  await eventually(() => connections.every((c) => c.status === 'ready'), true);
});

afterEach(async () => {
  for (const r of replicas) {
    r.server.closeAllConnections();
    r.server.close();
    r.guard.close();
  }
  for (const connection of connections.splice(0)) connection.disconnect();
  await Promise.all([fake.close(), redis.stop()]);
});

describe('fleet mode on a real Redis: rate-limit holds', () => {
  it("one replica's 429 pauses the others: they answer 429 without calling Claude, until its retry-after", async () => {
    fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '120' } });
    expect(await call(0)).toBe('429');
    clock.advance(SYNC_MS);
    expect(await eventually(holds, ['paused', 'paused', 'paused'])).toEqual(['paused', 'paused', 'paused']);
    expect(await Promise.all([1, 2].map(call))).toEqual(['429', '429']);
    expect(fake.requests).toHaveLength(1);
    // Past the pause, every replica calls Claude again.
    clock.advance(120_000);
    expect(await Promise.all([0, 1, 2].map(call))).toEqual(['served', 'served', 'served']);
    expect(fake.requests).toHaveLength(4);
  });

  it("one replica's spend-limit 429 holds the others, and no replica shows another's upstream message", async () => {
    fake.enqueue({
      kind: 'status',
      status: 429,
      errorCode: 'enforced_spend_limit_reached',
      message: 'Your workspace reached its spend limit of $42',
    });
    expect(await call(2)).toBe('429');
    clock.advance(SYNC_MS);
    await eventually(holds, ['spend-limit', 'spend-limit', 'spend-limit']);
    const held = (await replicas[0]!.user.messages.create(params('hi', 16)).catch((error: unknown) => error)) as {
      status: number;
      message: string;
    };
    expect(held.status).toBe(429);
    expect(held.message).toContain('spend limit');
    expect(held.message).not.toContain('$42');
    expect(fake.requests).toHaveLength(1);
    // Nothing in Redis names the key or carries the upstream message.
    const probe = new Redis({ port: redis.port, host: '127.0.0.1' });
    try {
      const keys = await probe.keys('{fleet-rl-test}:*');
      const values = await Promise.all(
        keys.map((k) => probe.type(k).then((t) => (t === 'string' ? probe.get(k) : ''))),
      );
      expect(keys.some((k) => k.includes('rate-limit:client_'))).toBe(true);
      expect(JSON.stringify([keys, values])).not.toMatch(/sk-ant|\$42/);
    } finally {
      probe.disconnect();
    }
  });
});

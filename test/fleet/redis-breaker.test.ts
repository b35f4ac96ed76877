import Anthropic from '@anthropic-ai/sdk';
import {
  createClaudeGuard,
  sdkOptions,
  type ClaudeGuard,
  type ClaudeGuardOptions,
  type GuardEvent,
} from '@claude-guard/core';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { createRedisStore } from '@claude-guard/redis';
import { freePort, startRedisServer, type RedisServer } from '../../packages/redis/src/testing/redis-server.js';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, manualClock, params, type ManualClock } from '../support/index.js';

// Three replicas of one service as three guards in this process, each with its own Redis connection
// and its own Anthropic client, against one fake upstream and one real redis-server. Time is a manual
// clock shared by the three: the fleet syncs when the test advances it by a sync interval, and the
// test waits (polling, no time margin) for what the sync makes true.

const SYNC_MS = 500;
const BREAKER = { volumeThreshold: 6, errorThresholdPercentage: 50, resetTimeout: 30_000 };

interface Replica {
  guard: ClaudeGuard;
  client: Anthropic;
  events: GuardEvent[];
}

let redis: RedisServer;
let fake: FakeAnthropic;
let clock: ManualClock;
let replicas: Replica[];
const connections: Redis[] = [];

function connect(port: number): Redis {
  const connection = new Redis({
    port,
    host: '127.0.0.1',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 20,
  });
  connection.on('error', () => undefined); // the guard reports the store's state itself
  connections.push(connection);
  return connection;
}

function replica(port: number, overrides: Partial<ClaudeGuardOptions> = {}): Replica {
  const events: GuardEvent[] = [];
  const client = new Anthropic({ apiKey: 'sk-ant-fleet-test', baseURL: fake.url, maxRetries: 0 });
  const guard = createClaudeGuard({
    client,
    clock,
    store: createRedisStore({ client: connect(port), prefix: 'fleet-test' }),
    fleet: { syncIntervalMs: SYNC_MS },
    breaker: BREAKER,
    retry: { maxAttempts: 1 },
    retryBudget: false,
    rateLimits: { enabled: false },
    onEvent: (event) => events.push(event),
    ...overrides,
  });
  return { guard, client, events };
}

/** One request through replica `i`: 'served', 'rejected' (the breaker, 503) or 'failed' (the upstream's error). */
async function call(i: number): Promise<'served' | 'rejected' | 'failed'> {
  const { guard, client } = replicas[i % replicas.length]!;
  try {
    await guard.run('chat', (attempt) => client.messages.create(params('hi', 16), sdkOptions(attempt)));
    return 'served';
  } catch (error) {
    return (error as { status?: number }).status === 503 && (error as { outcome?: string }).outcome === 'breaker-open'
      ? 'rejected'
      : 'failed';
  }
}

/** Drives syncs (a sync interval at a time) until `done()`; each sync's commands run on real time, hence the poll. */
async function syncUntil(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) {
    clock.advance(SYNC_MS);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(done()).toBe(true);
}

const localFires = () => replicas.reduce((sum, r) => sum + (r.guard.status().breakers[0]?.counts.fires ?? 0), 0);
const states = () => replicas.map((r) => r.guard.status().breakers[0]?.state);
const fleetFires = () => replicas.map((r) => r.guard.status().breakers[0]?.fleetCounts?.fires);
const connected = () => replicas.map((r) => r.guard.status().store.connected);
const count = (r: Replica, type: GuardEvent['type']) => r.events.filter((e) => e.type === type).length;

beforeEach(async () => {
  [redis, fake] = await Promise.all([startRedisServer(), createFakeAnthropic()]);
  clock = manualClock();
  replicas = [0, 1, 2].map(() => replica(redis.port));
  await eventually(() => connections.every((c) => c.status === 'ready'), true);
});

afterEach(async () => {
  for (const r of replicas) r.guard.close();
  for (const connection of connections.splice(0)) connection.disconnect();
  await Promise.all([fake.close(), redis.stop()]);
});

describe('fleet mode on a real Redis: breakers', () => {
  it('opens the fleet after volumeThreshold calls fleet-wide, and every replica rejects after one sync', async () => {
    fake.setDefault({ faultRate: 1, fault: 529 });
    for (let i = 0; i < BREAKER.volumeThreshold - 1; i++) expect(await call(i)).toBe('failed');
    clock.advance(SYNC_MS);
    expect(await eventually(fleetFires, [5, 5, 5])).toEqual([5, 5, 5]);
    expect(states()).toEqual(['closed', 'closed', 'closed']);
    // The sixth fleet-wide (the second of replica 2): its replica opens, though it saw only two itself.
    expect(await call(5)).toBe('failed');
    expect(states()[2]).toBe('open');
    clock.advance(SYNC_MS);
    expect(await eventually(states, ['open', 'open', 'open'])).toEqual(['open', 'open', 'open']);
    expect(await Promise.all([0, 1, 2].map(call))).toEqual(['rejected', 'rejected', 'rejected']);
    // Six upstream calls for the fleet, not six per replica.
    expect(fake.requests).toHaveLength(BREAKER.volumeThreshold);
  });

  it('sends exactly one half-open trial for the whole fleet under 50 concurrent requests, then closes it', async () => {
    fake.setDefault({ faultRate: 1, fault: 529 });
    for (let i = 0; i < BREAKER.volumeThreshold; i++) await call(i);
    clock.advance(SYNC_MS);
    await eventually(fleetFires, [6, 6, 6]);
    await call(0); // one more failure, seen with the fleet's counts: opens
    clock.advance(SYNC_MS);
    expect(await eventually(states, ['open', 'open', 'open'])).toEqual(['open', 'open', 'open']);
    fake.setDefault({ faultRate: 0 });
    const before = fake.requests.length;
    clock.advance(BREAKER.resetTimeout);
    const outcomes = await Promise.all(Array.from({ length: 50 }, (_, i) => call(i)));
    expect(fake.requests.length - before).toBe(1);
    expect(outcomes.filter((o) => o === 'served')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'rejected')).toHaveLength(49);
    clock.advance(SYNC_MS);
    expect(await eventually(states, ['closed', 'closed', 'closed'])).toEqual(['closed', 'closed', 'closed']);
  });

  it('redis SIGKILLed under load: no request fails because of it; degraded once; sync resumes after a restart', async () => {
    const load = Array.from({ length: 30 }, (_, i) => call(i));
    await redis.kill();
    clock.advance(SYNC_MS);
    const more = Array.from({ length: 30 }, (_, i) => call(i));
    expect(new Set(await Promise.all([...load, ...more]))).toEqual(new Set(['served']));
    expect(await eventually(connected, [false, false, false])).toEqual([false, false, false]);
    clock.advance(SYNC_MS);
    await eventually(
      () => replicas.map((r) => r.guard.status().breakers[0]?.fleetCounts),
      [undefined, undefined, undefined],
    );
    expect(replicas.map((r) => count(r, 'store-degraded'))).toEqual([1, 1, 1]);
    await redis.restart();
    await eventually(() => connections.every((c) => c.status === 'ready'), true);
    clock.advance(SYNC_MS);
    expect(await eventually(connected, [true, true, true])).toEqual([true, true, true]);
    expect(replicas.map((r) => count(r, 'store-recovered'))).toEqual([1, 1, 1]);
    // What each replica counted meanwhile reached the new, empty Redis: 60 calls fleet-wide.
    expect(await eventually(fleetFires, [60, 60, 60])).toEqual([60, 60, 60]);
  });

  it('redis SIGSTOPped (a hang): requests are served as before; the store is marked degraded once', async () => {
    expect(await Promise.all([0, 1, 2].map(call))).toEqual(['served', 'served', 'served']); // each replica's breaker exists
    redis.pause();
    try {
      clock.advance(SYNC_MS); // the syncs now wait on a hung Redis, at most the store's command timeout
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i)));
      expect(new Set(outcomes)).toEqual(new Set(['served']));
      expect(await eventually(connected, [false, false, false])).toEqual([false, false, false]);
      expect(replicas.map((r) => count(r, 'store-degraded'))).toEqual([1, 1, 1]);
    } finally {
      redis.resume();
    }
  });
});

describe('fleet mode on a real Redis: the retry budget', () => {
  it('an outage at three replicas costs the retries of one budget for the fleet, not three', async () => {
    for (const r of replicas) r.guard.close();
    // The retries' backoff (a few ms) runs on real time; the syncs still wait for advance().
    clock = manualClock(1_000_000, { realBelowMs: 100 });
    // Only the per-second floor (10 retries per 10 s window), so that three budgets would be three floors.
    // The window is a minute, longer than the test's syncs take on its clock: nothing rotates away meanwhile.
    const budget = { percentCanRetry: 0, minRetriesPerSecond: 10 / 60, ttlMs: 60_000 };
    replicas = [0, 1, 2].map(() =>
      replica(redis.port, {
        retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
        retryBudget: budget,
        breaker: { volumeThreshold: 1_000, rollingCountTimeout: 60_000 },
      }),
    );
    await eventually(() => connections.every((c) => c.status === 'ready'), true);
    fake.setDefault({ faultRate: 1, fault: 529 });
    for (let i = 0; i < 30; i++) {
      expect(await call(i)).toBe('failed');
      // Syncs until every replica has seen every attempt so far: the test's fleet is never stale, so the figure is exact.
      const seen = replicas.slice(0, Math.min(i + 1, 3));
      await syncUntil(() => seen.every((r) => r.guard.status().breakers[0]?.fleetCounts?.fires === localFires()));
    }
    // 30 first attempts and 10 retries for the fleet (three budgets: 30 retries).
    expect(fake.requests).toHaveLength(40);
  });
});

describe('fleet mode: a Redis unreachable at start', () => {
  it('the guard starts, serves, and says it is degraded once', async () => {
    const nobody = await freePort();
    const lone = replica(nobody);
    replicas.push(lone);
    expect(await call(3)).toBe('served');
    clock.advance(SYNC_MS);
    expect(await eventually(() => lone.guard.status().store.connected, false)).toBe(false);
    clock.advance(SYNC_MS);
    clock.advance(SYNC_MS);
    expect(await call(3)).toBe('served');
    expect(count(lone, 'store-degraded')).toBe(1);
    expect(lone.events.find((e) => e.type === 'store-degraded')).toEqual({
      type: 'store-degraded',
      reason: 'StoreUnavailableError',
    });
  });
});

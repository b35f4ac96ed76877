import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRedisStore, StoreTimeoutError, StoreUnavailableError } from './redis-store.js';
import { startRedisServer, type RedisServer } from './testing/redis-server.js';

let server: RedisServer;
const clients: Redis[] = [];

/** A client as the README configures one: no offline queue, no per-command retries. */
async function connect(): Promise<Redis> {
  const client = new Redis({
    port: server.port,
    host: '127.0.0.1',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 20,
    lazyConnect: true,
  });
  client.on('error', () => undefined); // connection errors are expected in the fault tests
  clients.push(client);
  await client.connect();
  return client;
}

beforeEach(async () => {
  server = await startRedisServer();
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  await server.stop();
});

describe('createRedisStore', () => {
  it('adds counters atomically from several clients at once', async () => {
    const a = createRedisStore({ client: await connect() });
    const b = createRedisStore({ client: await connect() });
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? a : b).addCounters('breaker:chat:b:7', { fires: 1, failures: 2 }, 20_000),
      ),
    );
    expect(await a.getCounters(['breaker:chat:b:7', 'breaker:chat:b:8'])).toEqual([{ fires: 50, failures: 100 }, {}]);
    expect(await b.addCounters('breaker:chat:b:7', { successes: 1 }, 20_000)).toEqual({
      fires: 50,
      failures: 100,
      successes: 1,
    });
  });

  it('puts every key under its prefix, with a TTL', async () => {
    const client = await connect();
    const store = createRedisStore({ client, prefix: 'checkout' });
    await store.addCounters('c', { n: 1 }, 20_000);
    await store.acquireLease('l', 'replica-a', 5_000);
    await store.set('v', 'open', 1_000);
    const keys = (await client.keys('*')).sort();
    expect(keys).toEqual(['{checkout}:c', '{checkout}:l', '{checkout}:v']);
    for (const key of keys) {
      const ttl = await client.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(20_000);
    }
  });

  it('grants a lease to exactly one of many concurrent holders; only its holder releases it', async () => {
    const stores = await Promise.all([1, 2, 3].map(async () => createRedisStore({ client: await connect() })));
    const granted = await Promise.all(
      Array.from({ length: 30 }, (_, i) => stores[i % 3]!.acquireLease('trial', `replica-${i}`, 5_000)),
    );
    expect(granted.filter(Boolean)).toHaveLength(1);
    const holder = `replica-${granted.indexOf(true)}`;
    await stores[0]!.releaseLease('trial', 'someone-else');
    expect(await stores[1]!.acquireLease('trial', 'late', 5_000)).toBe(false);
    await stores[0]!.releaseLease('trial', holder);
    expect(await stores[1]!.acquireLease('trial', 'late', 5_000)).toBe(true);
  });

  it('gets and sets values with a TTL', async () => {
    const store = createRedisStore({ client: await connect() });
    expect(await store.get('hint')).toBeUndefined();
    await store.set('hint', '12345', 10_000);
    expect(await store.get('hint')).toBe('12345');
  });

  it("sends each script's text once, then its SHA-1; after SCRIPT FLUSH (NOSCRIPT) the text once more", async () => {
    const redis = await connect();
    const sent = { eval: 0, evalsha: 0 };
    // The real client, counted: what the store sends to Redis, command by command.
    const client = {
      get status() {
        return redis.status;
      },
      eval: (...args: Parameters<Redis['eval']>) => {
        sent.eval += 1;
        return redis.eval(...args);
      },
      evalsha: (...args: Parameters<Redis['evalsha']>) => {
        sent.evalsha += 1;
        return redis.evalsha(...args);
      },
    };
    const store = createRedisStore({ client });
    for (let i = 1; i <= 3; i++) expect(await store.addCounters('c', { n: 1 }, 20_000)).toEqual({ n: i });
    // The text with the first command (which makes Redis cache it), the SHA-1 with the next ones.
    expect(sent).toEqual({ eval: 1, evalsha: 2 });
    await redis.script('FLUSH');
    expect(await store.addCounters('c', { n: 1 }, 20_000)).toEqual({ n: 4 });
    // NOSCRIPT: the text once more.
    expect(sent).toEqual({ eval: 2, evalsha: 3 });
    expect(await store.addCounters('c', { n: 1 }, 20_000)).toEqual({ n: 5 });
    expect(sent).toEqual({ eval: 2, evalsha: 4 });
    // A client without evalsha (a test double, another client) gets the text every time.
    const plain = createRedisStore({ client: { status: 'ready', eval: client.eval } });
    for (let i = 6; i <= 7; i++) expect(await plain.addCounters('c', { n: 1 }, 20_000)).toEqual({ n: i });
    expect(sent).toEqual({ eval: 4, evalsha: 4 });
  });

  it('refuses at once, queueing nothing, while the client is not connected', async () => {
    const client = await connect();
    const store = createRedisStore({ client });
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await server.kill();
    await closed;
    await expect(store.get('hint')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.addCounters('c', { n: 1 }, 1_000)).rejects.toBeInstanceOf(StoreUnavailableError);
    await server.restart();
    await new Promise<void>((resolve) => client.once('ready', () => resolve()));
    await store.set('hint', 'back', 1_000);
    expect(await store.get('hint')).toBe('back');
  });

  it('a hung Redis (SIGSTOP): commands time out, and no more than maxInFlight wait', async () => {
    const store = createRedisStore({ client: await connect(), commandTimeoutMs: 50, maxInFlight: 2 });
    server.pause();
    const first = store.get('a');
    const second = store.get('b');
    await expect(store.get('c')).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(first).rejects.toBeInstanceOf(StoreTimeoutError);
    await expect(second).rejects.toBeInstanceOf(StoreTimeoutError);
    server.resume();
  });

  it('validates its options, naming the bad one', () => {
    expect(() => createRedisStore({ client: {} as never })).toThrow(/option `client`/);
    const client = { status: 'ready', eval: () => Promise.resolve(0) };
    expect(() => createRedisStore({ client, prefix: 'a b' })).toThrow(/option `prefix`/);
    expect(() => createRedisStore({ client, commandTimeoutMs: 0 })).toThrow(/option `commandTimeoutMs`/);
    expect(() => createRedisStore({ client, maxInFlight: 1.5 })).toThrow(/option `maxInFlight`/);
  });
});

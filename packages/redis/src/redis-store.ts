import { createHash } from 'node:crypto';
import type { SharedStore } from '@claude-guard/core';

/**
 * What the store needs of an ioredis client: `eval` and the connection's `status`. A `Redis` (single
 * node or sentinel) and a `Cluster` both have them; typed this narrowly so that a test double, or a
 * client of another ioredis major with the same two members, fits.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * const client: RedisStoreClient = new Redis(process.env.REDIS_URL!, { enableOfflineQueue: false });
 * ```
 */
export interface RedisStoreClient {
  /** `ready` when commands can be sent now; anything else (`connecting`, `reconnecting`, `end`, ...) when not. */
  readonly status: string;
  eval(script: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
  /**
   * Runs a script Redis already holds, by its SHA-1: when the client has it, the store sends each
   * script's text with its first command only (and again after a `NOSCRIPT` answer, with `eval`), not
   * with every command.
   */
  evalsha?(sha1: string, numberOfKeys: number, ...args: (string | number)[]): Promise<unknown>;
}

/**
 * Options of {@link createRedisStore}.
 *
 * @example
 * ```ts
 * createRedisStore({ client, prefix: 'checkout-api', commandTimeoutMs: 50 });
 * ```
 */
export interface RedisStoreOptions {
  /** Your ioredis client (`new Redis(url, { enableOfflineQueue: false })`, or a `Cluster`); the store never closes it. */
  client: RedisStoreClient;
  /**
   * Every key starts with `{<prefix>}:`; the braces are a Redis Cluster hash tag, so all of one
   * fleet's keys live in one slot and a script may touch several. Default `claude-guard`.
   */
  prefix?: string;
  /** A command not answered within this many milliseconds rejects with {@link StoreTimeoutError}. Default 50. */
  commandTimeoutMs?: number;
  /**
   * Commands waiting for an answer at most; one more rejects at once with
   * {@link StoreUnavailableError}, so a hung Redis cannot make commands pile up. Default 64.
   */
  maxInFlight?: number;
}

/**
 * Thrown (as a rejection) when Redis did not answer within `commandTimeoutMs`.
 *
 * @example
 * ```ts
 * store.get('hint').catch((error) => { if (error instanceof StoreTimeoutError) useLocalState(); });
 * ```
 */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`Redis did not answer within ${timeoutMs} ms`);
  }
}

/**
 * Thrown (as a rejection) when a command was not sent at all: the client is not `ready`
 * (connecting, reconnecting, closed), or `maxInFlight` commands are already waiting.
 *
 * @example
 * ```ts
 * store.get('hint').catch((error) => { if (error instanceof StoreUnavailableError) useLocalState(); });
 * ```
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

// One Lua script per operation: each runs atomically on the server, so concurrent replicas never
// interleave a read and a write. Every write sets the key's TTL in the same script.
const ADD_COUNTERS = `
for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return redis.call('HGETALL', KEYS[1])`;
const GET_COUNTERS = `
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out`;
const ACQUIRE_LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;
const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`;
const GET = `return redis.call('GET', KEYS[1])`;
const SET = `redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 0`;

/**
 * A claude-guard {@link SharedStore} in Redis, for `createClaudeGuard({ store })`: every replica
 * given a store on the same Redis and prefix shares breakers and the retry budget. Each operation
 * is one Lua script (atomic), every key is under `{prefix}:` and has a TTL, and no command is
 * queued while Redis is away: a client that is not `ready` gets an immediate rejection, a command
 * not answered within `commandTimeoutMs` rejects, and at most `maxInFlight` wait at once. The
 * guard turns every such rejection into its local fallback; the store itself never retries.
 *
 * @param options - your ioredis client, the key prefix, the command timeout
 * @returns the store, to pass as `createClaudeGuard`'s `store`
 * @throws TypeError naming the option when one is invalid
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { createClaudeGuard } from '@claude-guard/core';
 * import { createRedisStore } from '@claude-guard/redis';
 *
 * const redis = new Redis(process.env.REDIS_URL!, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
 * const guard = createClaudeGuard({ client: new Anthropic(), store: createRedisStore({ client: redis, prefix: 'chat-api' }) });
 * ```
 */
export function createRedisStore(options: RedisStoreOptions): SharedStore {
  if (!options || typeof options !== 'object') fail('options', 'an object like { client }', options);
  const { client } = options;
  if (typeof client?.eval !== 'function') fail('client', 'an ioredis client (new Redis(url))', typeof client);
  const prefix = options.prefix ?? 'claude-guard';
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9._:-]{1,64}$/.test(prefix)) {
    fail('prefix', 'a string of 1-64 characters [A-Za-z0-9._:-]', prefix);
  }
  const commandTimeoutMs = options.commandTimeoutMs ?? 50;
  if (typeof commandTimeoutMs !== 'number' || !Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0) {
    fail('commandTimeoutMs', 'a positive number of milliseconds', commandTimeoutMs);
  }
  const maxInFlight = options.maxInFlight ?? 64;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) fail('maxInFlight', 'a positive integer', maxInFlight);
  const key = (name: string): string => `{${prefix}}:${name}`;
  let inFlight = 0;

  // By SHA-1 when the client can: each script's first command sends its text (`eval`, which makes Redis
  // cache it, as fast as before), later ones only its SHA-1. Redis forgets its cache when it restarts or
  // on `SCRIPT FLUSH`: a `NOSCRIPT` answer sends the text once more.
  const evalsha = typeof client.evalsha === 'function' ? client.evalsha.bind(client) : undefined;
  const sentOnce = new Set<string>();
  const send = (script: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> => {
    const byText = () => client.eval(script, keys.length, ...keys, ...args);
    if (evalsha === undefined) return byText();
    if (!sentOnce.has(script)) {
      sentOnce.add(script);
      return byText();
    }
    return evalsha(scriptSha(script), keys.length, ...keys, ...args).catch((error: unknown) =>
      isNoScript(error) ? byText() : Promise.reject(error),
    );
  };
  const run = (script: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> => {
    // No offline queue, whatever the client's own setting: a command Redis cannot take now is refused now.
    if (client.status !== 'ready') {
      return Promise.reject(new StoreUnavailableError(`Redis is not connected (${client.status})`));
    }
    if (inFlight >= maxInFlight) {
      return Promise.reject(new StoreUnavailableError(`${maxInFlight} Redis commands are already waiting`));
    }
    inFlight += 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new StoreTimeoutError(commandTimeoutMs)), commandTimeoutMs);
      send(script, keys.map(key), args).then(
        (value) => {
          clearTimeout(timer);
          inFlight -= 1;
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          inFlight -= 1;
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  };
  const ttl = (ttlMs: number): number => {
    if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
      throw new RangeError(`@claude-guard/redis: a TTL must be a positive number of milliseconds, got ${ttlMs}`);
    }
    return Math.ceil(ttlMs);
  };

  return {
    async addCounters(name, deltas, ttlMs) {
      const args: (string | number)[] = [ttl(ttlMs)];
      for (const [field, delta] of Object.entries(deltas)) {
        if (!Number.isInteger(delta)) throw new RangeError(`@claude-guard/redis: counter ${field} takes whole deltas`);
        args.push(field, delta);
      }
      return countersOf(await run(ADD_COUNTERS, [name], args));
    },
    async getCounters(names) {
      if (names.length === 0) return [];
      const replies = await run(GET_COUNTERS, names, []);
      return Array.isArray(replies) ? replies.map(countersOf) : names.map(() => ({}));
    },
    async acquireLease(name, holder, ttlMs) {
      return (await run(ACQUIRE_LEASE, [name], [holder, ttl(ttlMs)])) === 1;
    },
    async releaseLease(name, holder) {
      await run(RELEASE_LEASE, [name], [holder]);
    },
    async get(name) {
      const value = await run(GET, [name], []);
      return typeof value === 'string' ? value : undefined;
    },
    async set(name, value, ttlMs) {
      await run(SET, [name], [value, ttl(ttlMs)]);
    },
  };
}

/** An `HGETALL` reply (a flat list of field, value) as counters. */
function countersOf(reply: unknown): Record<string, number> {
  const counters: Record<string, number> = {};
  if (!Array.isArray(reply)) return counters;
  for (let i = 0; i + 1 < reply.length; i += 2) counters[String(reply[i])] = Number(reply[i + 1]);
  return counters;
}

function fail(option: string, expected: string, value: unknown): never {
  throw new TypeError(
    `@claude-guard/redis: option \`${option}\` must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`,
  );
}

const shas = new Map<string, string>();

/** A script's SHA-1, as Redis names it in its script cache; computed once per script. */
function scriptSha(script: string): string {
  let sha = shas.get(script);
  if (sha === undefined) {
    sha = createHash('sha1').update(script).digest('hex');
    shas.set(script, sha);
  }
  return sha;
}

/** Redis's answer to `EVALSHA` for a script it does not hold (restarted, `SCRIPT FLUSH`, another node). */
function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

import { systemClock, type Clock } from './clock.js';

/**
 * Where the state a fleet of guards shares lives: counters in time buckets, leases and plain
 * values, each with a time to live. The in-memory one ({@link createMemoryStore}) is the default,
 * so a single process behaves as it always did; `@claude-guard/redis` holds the same state in Redis
 * for several replicas. Every method is asynchronous and may be slow or fail (a store is a network
 * away): callers bound each call with their own command timeout and fall back to local state, so an
 * implementation needs no retry logic of its own. Keys are the caller's (an implementation may
 * prefix them); no value is ever a secret.
 *
 * @example
 * ```ts
 * const store: SharedStore = createMemoryStore();
 * // One key per time bucket: the bucket number is part of the key, and the TTL outlives the window.
 * await store.addCounters('breaker:chat:b:173', { failures: 1, fires: 1 }, 20_000);
 * const [bucket] = await store.getCounters(['breaker:chat:b:173']); // { failures: 1, fires: 1 }
 * if (await store.acquireLease('breaker:chat:trial', 'replica-a', 5_000)) {
 *   // this replica sends the fleet's one trial
 * }
 * ```
 */
export interface SharedStore {
  /**
   * Adds each of `deltas` to the counter of that name under `key`, atomically, sets `key` to expire
   * `ttlMs` from now, and resolves with every counter of `key` after the addition.
   */
  addCounters(key: string, deltas: Readonly<Record<string, number>>, ttlMs: number): Promise<Record<string, number>>;
  /** The counters of each key, in order (`{}` for a key that is absent or expired). */
  getCounters(keys: readonly string[]): Promise<Record<string, number>[]>;
  /**
   * Takes the lease `key` for `holder` when nobody holds it (set-if-absent), for `ttlMs`; resolves
   * `true` when `holder` now holds it (also when it already did), `false` when someone else does.
   */
  acquireLease(key: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease `key` back, only if `holder` still holds it (an expired lease may be another's). */
  releaseLease(key: string, holder: string): Promise<void>;
  /** The value of `key`, or `undefined` when absent or expired. */
  get(key: string): Promise<string | undefined>;
  /** Sets `key` to `value`, expiring `ttlMs` from now. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
}

/**
 * Options of {@link createMemoryStore}.
 *
 * @example
 * ```ts
 * const store = createMemoryStore({ clock: manualClock });
 * ```
 */
export interface MemoryStoreOptions {
  /** Expiry is read from `clock.now()`. Default: the system clock. */
  clock?: Clock;
}

interface Entry {
  value: string | Record<string, number>;
  expiresAt: number;
}

/** Expired entries are swept at most this often (in writes), so memory stays bounded without a timer. */
const SWEEP_EVERY = 256;

/**
 * A {@link SharedStore} in this process's memory: the default of `createClaudeGuard`'s `store`,
 * shared only by what holds the same object. Expiry is lazy (on read, and a sweep every 256
 * writes): it arms no timer, so an idle guard holds none.
 *
 * @param options - the clock expiry is read from
 * @returns a store with nothing in it
 * @example
 * ```ts
 * const store = createMemoryStore();
 * await store.set('hint', 'open', 1_000);
 * await store.get('hint'); // 'open'
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): SharedStore {
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== 'function') {
    throw new TypeError('claude-guard: option `clock` of createMemoryStore() must be a Clock with now()');
  }
  const entries = new Map<string, Entry>();
  let writes = 0;

  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > clock.now()) return entry;
    entries.delete(key);
    return undefined;
  };
  const write = (key: string, value: Entry['value'], ttlMs: number): void => {
    checkTtl(ttlMs);
    entries.set(key, { value, expiresAt: clock.now() + ttlMs });
    if (++writes % SWEEP_EVERY !== 0) return;
    const now = clock.now();
    for (const [name, entry] of entries) if (entry.expiresAt <= now) entries.delete(name);
  };
  const countersOf = (entry: Entry | undefined): Record<string, number> =>
    entry !== undefined && typeof entry.value === 'object' ? { ...entry.value } : {};

  return {
    addCounters(key, deltas, ttlMs) {
      return settle(() => {
        const counters = countersOf(live(key));
        for (const [name, delta] of Object.entries(deltas)) counters[name] = (counters[name] ?? 0) + delta;
        write(key, counters, ttlMs);
        return { ...counters };
      });
    },
    getCounters(keys) {
      return settle(() => keys.map((key) => countersOf(live(key))));
    },
    acquireLease(key, holder, ttlMs) {
      return settle(() => {
        const entry = live(key);
        if (entry !== undefined && entry.value !== holder) return false;
        write(key, holder, ttlMs);
        return true;
      });
    },
    releaseLease(key, holder) {
      return settle(() => {
        if (live(key)?.value === holder) entries.delete(key);
      });
    },
    get(key) {
      return settle(() => {
        const value = live(key)?.value;
        return typeof value === 'string' ? value : undefined;
      });
    },
    set(key, value, ttlMs) {
      return settle(() => {
        write(key, value, ttlMs);
      });
    },
  };
}

/** `fn`'s value as a promise, and its throw as a rejection, as a remote store's error would arrive. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function checkTtl(ttlMs: number): void {
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`claude-guard: a store TTL must be a positive number of milliseconds, got ${String(ttlMs)}`);
  }
}

/**
 * True when `value` has every method of a {@link SharedStore}: what `createClaudeGuard` checks its
 * `store` option with.
 *
 * @example
 * ```ts
 * if (!isSharedStore(options.store)) throw new TypeError('not a store');
 * ```
 */
export function isSharedStore(value: unknown): value is SharedStore {
  if (typeof value !== 'object' || value === null) return false;
  const store = value as Record<string, unknown>;
  return STORE_METHODS.every((name) => typeof store[name] === 'function');
}

const STORE_METHODS = ['addCounters', 'getCounters', 'acquireLease', 'releaseLease', 'get', 'set'] as const;

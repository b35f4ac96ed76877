import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { createClaudeGuard } from './guard.js';
import { createMemoryStore, isSharedStore } from './shared-store.js';

function manualClock(start = 1_000) {
  let now = start;
  return {
    clock: { now: () => now, setTimeout: () => 0, clearTimeout: () => undefined },
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: 'http://127.0.0.1:9' });

describe('createMemoryStore', () => {
  it('adds counters atomically per key and reads them back, {} for an absent key', async () => {
    const store = createMemoryStore();
    await store.addCounters('b:1', { fires: 1, failures: 1 }, 10_000);
    expect(await store.addCounters('b:1', { fires: 2, successes: 1 }, 10_000)).toEqual({
      fires: 3,
      failures: 1,
      successes: 1,
    });
    expect(await store.getCounters(['b:1', 'b:2'])).toEqual([{ fires: 3, failures: 1, successes: 1 }, {}]);
  });

  it('expires counters, values and leases after their TTL on the given clock', async () => {
    const { clock, advance } = manualClock();
    const store = createMemoryStore({ clock });
    await store.addCounters('c', { n: 1 }, 100);
    await store.set('v', 'open', 100);
    expect(await store.acquireLease('l', 'a', 100)).toBe(true);
    advance(99);
    expect(await store.getCounters(['c'])).toEqual([{ n: 1 }]);
    expect(await store.get('v')).toBe('open');
    expect(await store.acquireLease('l', 'b', 100)).toBe(false);
    advance(1);
    expect(await store.getCounters(['c'])).toEqual([{}]);
    expect(await store.get('v')).toBeUndefined();
    expect(await store.acquireLease('l', 'b', 100)).toBe(true);
  });

  it('grants a lease to one holder at a time; release frees it only for its holder', async () => {
    const store = createMemoryStore();
    expect(await store.acquireLease('trial', 'a', 5_000)).toBe(true);
    expect(await store.acquireLease('trial', 'a', 5_000)).toBe(true);
    expect(await store.acquireLease('trial', 'b', 5_000)).toBe(false);
    await store.releaseLease('trial', 'b');
    expect(await store.acquireLease('trial', 'b', 5_000)).toBe(false);
    await store.releaseLease('trial', 'a');
    expect(await store.acquireLease('trial', 'b', 5_000)).toBe(true);
  });

  it('rejects (never throws) on a TTL that is not a positive number', async () => {
    const store = createMemoryStore();
    await expect(store.set('v', 'x', 0)).rejects.toThrow(/TTL/);
    await expect(store.addCounters('c', { n: 1 }, Number.NaN)).rejects.toThrow(/TTL/);
    expect(await store.get('v')).toBeUndefined();
  });
});

describe('the store option of createClaudeGuard', () => {
  it('accepts a store and is recognised as one', () => {
    const store = createMemoryStore();
    expect(isSharedStore(store)).toBe(true);
    expect(() => createClaudeGuard({ client, store })).not.toThrow();
  });

  it('refuses something that is not a store, naming the option', () => {
    expect(() => createClaudeGuard({ client, store: {} as never })).toThrow(/option `store` must be a SharedStore/);
    expect(() => createClaudeGuard({ client, store: 'redis://localhost' as never })).toThrow(/`store`/);
    expect(isSharedStore({ ...createMemoryStore(), releaseLease: undefined })).toBe(false);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { AttemptFailedError, BreakerOpenError, BreakerRegistry, type RouteBreaker } from './breaker-registry.js';
import type { Clock } from './clock.js';
import { GuardEvents, type GuardEvent } from './events.js';
import { FleetRetryBudget } from './fleet-retry-budget.js';
import { FleetSync } from './fleet-sync.js';
import { DEFAULTS } from './options.js';
import { createMemoryStore, type SharedStore } from './shared-store.js';
import { manualClock } from './testing/manual-clock.js';

// A fleet of three replicas in one process: three registries, each with its own FleetSync, over one
// store. Time is a manual clock and every sync is driven by the test, so nothing depends on real time.

const OPTIONS = { ...DEFAULTS.breaker, volumeThreshold: 10, errorThresholdPercentage: 50, resetTimeout: 5_000 };
const FLEET = { syncIntervalMs: 500, commandTimeoutMs: 50, trialLeaseMs: 10_000 };

const failure = new AttemptFailedError({
  kind: 'http',
  status: 529,
  type: 'overloaded_error',
  transient: true,
  breaker: 'failure',
  retryAfterMs: undefined,
  upstreamRequestId: undefined,
  upstreamMessage: undefined,
  errorCode: undefined,
  error: undefined,
});

interface Replica {
  registry: BreakerRegistry;
  breaker: RouteBreaker;
  events: GuardEvent[];
}

const registries: BreakerRegistry[] = [];
afterEach(() => {
  for (const registry of registries.splice(0)) registry.close();
});

function fleetOf(count: number, store: SharedStore, clock: Clock): Replica[] {
  return Array.from({ length: count }, () => {
    const events: GuardEvent[] = [];
    const hub = new GuardEvents();
    hub.on((event) => events.push(event));
    const registry = new BreakerRegistry(clock, hub, new FleetSync(store, clock, hub, FLEET));
    registries.push(registry);
    return { registry, breaker: registry.get('chat', 'chat', OPTIONS), events };
  });
}

const fail = (replica: Replica): Promise<unknown> =>
  replica.breaker.execute(() => Promise.reject(failure)).catch((error: unknown) => error);
const syncAll = (fleet: Replica[]): Promise<unknown> => Promise.all(fleet.map((r) => r.registry.syncFleet()));
/** Lets background writes (hints, lease releases) reach the store. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('FleetSync: breakers shared by a fleet', () => {
  it('opens the fleet after volumeThreshold calls fleet-wide, and every replica then rejects', async () => {
    const clock = manualClock();
    const fleet = fleetOf(3, createMemoryStore({ clock }), clock);
    for (const replica of fleet) for (let i = 0; i < 3; i++) await fail(replica);
    await syncAll(fleet);
    // 9 fleet-wide: below the threshold of 10, and no replica alone is anywhere near it.
    expect(fleet.map((r) => r.breaker.state)).toEqual(['closed', 'closed', 'closed']);
    expect(fleet[0]!.registry.snapshot()[0]!.fleetCounts).toMatchObject({ fires: 9, failures: 9 });
    await fail(fleet[0]!); // the tenth, fleet-wide
    expect(fleet[0]!.breaker.state).toBe('open');
    await settle();
    await syncAll(fleet);
    expect(fleet.map((r) => r.breaker.state)).toEqual(['open', 'open', 'open']);
    for (const replica of fleet) {
      let ran = false;
      const error = await replica.breaker
        .execute(() => {
          ran = true;
          return Promise.resolve('ok');
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BreakerOpenError);
      expect(ran).toBe(false);
    }
    expect(fleet[1]!.events).toContainEqual({ type: 'breaker-open', key: 'chat' });
  });

  it('without a fleet view (store away), a replica opens on its own counts only', async () => {
    const clock = manualClock();
    const fleet = fleetOf(3, createMemoryStore({ clock }), clock);
    for (const replica of fleet) for (let i = 0; i < 3; i++) await fail(replica);
    // No sync: nobody knows of the others' failures.
    await fail(fleet[0]!);
    expect(fleet[0]!.breaker.state).toBe('closed');
  });

  it('sends exactly one half-open trial for the whole fleet under concurrent calls, then closes the fleet', async () => {
    const clock = manualClock();
    const fleet = fleetOf(3, createMemoryStore({ clock }), clock);
    for (let i = 0; i < 10; i++) await fail(fleet[i % 3]!);
    await syncAll(fleet);
    await fail(fleet[0]!);
    await settle();
    await syncAll(fleet);
    expect(fleet.map((r) => r.breaker.state)).toEqual(['open', 'open', 'open']);
    clock.advance(OPTIONS.resetTimeout);
    let trials = 0;
    let release!: () => void;
    const upstream = new Promise<void>((resolve) => (release = resolve));
    const calls = Array.from({ length: 50 }, (_, i) =>
      fleet[i % 3]!.breaker.execute(async () => {
        trials += 1;
        await upstream;
        return 'ok';
      }).then(
        () => 'served',
        (error: unknown) => (error instanceof BreakerOpenError ? 'rejected' : 'other'),
      ),
    );
    await settle();
    release();
    const outcomes = await Promise.all(calls);
    expect(trials).toBe(1);
    expect(outcomes.filter((o) => o === 'served')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'rejected')).toHaveLength(49);
    await settle();
    await syncAll(fleet);
    expect(fleet.map((r) => r.breaker.state)).toEqual(['closed', 'closed', 'closed']);
  });

  it('a hung store: store-degraded once, decisions stay local and never wait; store-recovered when it answers', async () => {
    const clock = manualClock();
    const memory = createMemoryStore({ clock });
    let hung = false;
    const never = new Promise<never>(() => undefined);
    const store: SharedStore = {
      addCounters: (...args) => (hung ? never : memory.addCounters(...args)),
      getCounters: (...args) => (hung ? never : memory.getCounters(...args)),
      acquireLease: (...args) => (hung ? never : memory.acquireLease(...args)),
      releaseLease: (...args) => (hung ? never : memory.releaseLease(...args)),
      get: (...args) => (hung ? never : memory.get(...args)),
      set: (...args) => (hung ? never : memory.set(...args)),
    };
    const [a] = fleetOf(1, store, clock) as [Replica];
    await fail(a);
    hung = true;
    const first = a.registry.syncFleet();
    clock.advance(FLEET.commandTimeoutMs);
    await first;
    const second = a.registry.syncFleet();
    clock.advance(FLEET.commandTimeoutMs);
    await second;
    expect(a.events.filter((e) => e.type === 'store-degraded')).toEqual([{ type: 'store-degraded', reason: 'Error' }]);
    expect(a.registry.storeConnected).toBe(false);
    expect(a.registry.snapshot()[0]!.fleetCounts).toBeUndefined();
    // Local behaviour intact: ten local failures open it, without a single store call waited for.
    for (let i = 0; i < 9; i++) await fail(a);
    expect(a.breaker.state).toBe('open');
    // Half-open while degraded: the local trial goes on without asking the hung store.
    clock.advance(OPTIONS.resetTimeout);
    expect(await a.breaker.execute(() => Promise.resolve('trial'))).toBe('trial');
    // The timer's own sync, started by that advance, is waiting on the hung store: let it time out.
    await settle();
    clock.advance(FLEET.commandTimeoutMs);
    hung = false;
    await a.registry.syncFleet();
    await a.registry.syncFleet();
    expect(a.events.filter((e) => e.type === 'store-recovered')).toHaveLength(1);
    expect(a.registry.storeConnected).toBe(true);
    // What was counted while degraded (and is still in the window) reached the store.
    expect(a.registry.snapshot()[0]!.fleetCounts?.failures).toBe(10);
  });

  it('arms one sync timer for a guard with breakers and clears it on close', () => {
    const clock = manualClock();
    const [a] = fleetOf(1, createMemoryStore({ clock }), clock) as [Replica];
    expect(clock.pending).toBe(1);
    a.registry.close();
    expect(clock.pending).toBe(0);
  });
});

describe('FleetRetryBudget: one budget for the fleet', () => {
  const BUDGET = { percentCanRetry: 0.2, minRetriesPerSecond: 0, ttlMs: 10_000 };

  function budgets(count: number, clock: Clock, store: SharedStore): { budget: FleetRetryBudget; sync: FleetSync }[] {
    return Array.from({ length: count }, () => {
      const sync = new FleetSync(store, clock, new GuardEvents(), FLEET);
      const budget = new FleetRetryBudget({ ...BUDGET, now: clock.now });
      sync.add(budget);
      syncs.push(sync);
      return { budget, sync };
    });
  }
  const syncs: FleetSync[] = [];
  afterEach(() => {
    for (const sync of syncs.splice(0)) sync.close();
  });

  it('the percentage holds for the fleet: retries anywhere spend the requests made anywhere, once', async () => {
    const clock = manualClock();
    const fleet = budgets(3, clock, createMemoryStore({ clock }));
    const [a, b, c] = fleet as [(typeof fleet)[0], (typeof fleet)[0], (typeof fleet)[0]];
    for (let i = 0; i < 30; i++) a.budget.recordRequest();
    await Promise.all(fleet.map(({ sync }) => sync.sync()));
    // 20 % of 30 fleet-wide requests: 6 retries, wherever they are taken; b made no request itself.
    expect(b.budget.balance()).toBe(6);
    let granted = 0;
    for (let round = 0; round < 10; round++) {
      for (const { budget } of [b, c, a]) if (budget.tryWithdraw()) granted += 1;
      await Promise.all(fleet.map(({ sync }) => sync.sync()));
    }
    // Per replica budgets would have granted a's 6 alone, plus b's and c's floor.
    expect(granted).toBe(6);
    expect(fleet.map(({ budget }) => budget.balance())).toEqual([0, 0, 0]);
  });

  it('before its first sync (and with the store away), a replica decides on its own counts', () => {
    const clock = manualClock();
    const [a, b] = budgets(2, clock, createMemoryStore({ clock })) as [
      { budget: FleetRetryBudget; sync: FleetSync },
      { budget: FleetRetryBudget; sync: FleetSync },
    ];
    for (let i = 0; i < 10; i++) a.budget.recordRequest();
    expect(b.budget.balance()).toBe(0); // not synced: b knows of no request
    expect(a.budget.balance()).toBe(2);
  });
});

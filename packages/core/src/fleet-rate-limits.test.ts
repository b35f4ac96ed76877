import { describe, expect, it } from 'vitest';
import type { Clock } from './clock.js';
import { GuardEvents, type GuardEvent } from './events.js';
import { FleetRateLimits } from './fleet-rate-limits.js';
import { FleetSync } from './fleet-sync.js';
import { createRateLimitTracker, type RateLimitTracker } from './rate-limit-tracker.js';
import { createMemoryStore, type SharedStore } from './shared-store.js';
import { manualClock } from './testing/manual-clock.js';

// Three replicas' rate-limit trackers in one process, each with its own FleetSync over one store.
// Time is a manual clock; every sync is driven by the test.

const FLEET = { syncIntervalMs: 500, commandTimeoutMs: 50, trialLeaseMs: 10_000 };
const CLIENT = 'client_0123456789abcdef';
const START = Date.parse('2026-03-01T12:00:00.000Z');

interface Replica {
  tracker: RateLimitTracker;
  share: FleetRateLimits;
  sync: FleetSync;
  events: GuardEvent[];
}

function fleetOf(count: number, store: SharedStore, clock: Clock): Replica[] {
  return Array.from({ length: count }, () => {
    const events: GuardEvent[] = [];
    const hub = new GuardEvents();
    hub.on((event) => events.push(event));
    const sync = new FleetSync(store, clock, hub, FLEET);
    const tracker = createRateLimitTracker({ clock, spendLimitHoldMs: 60_000 });
    return { tracker, sync, events, share: new FleetRateLimits(tracker, CLIENT, sync, () => clock.now()) };
  });
}

/** What the admission registry does with an upstream answer: observe it, and publish a new hold. */
function observe(replica: Replica, answer: Parameters<RateLimitTracker['observe']>[1]): void {
  if (replica.tracker.observe(CLIENT, answer)) replica.share.publish();
}

const check = (replica: Replica) => replica.tracker.check(CLIENT, { estimatedInputTokens: 10 });
const syncAll = async (fleet: Replica[]): Promise<void> => {
  for (const replica of fleet) await replica.sync.sync();
};
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const close = (fleet: Replica[]) => fleet.forEach((replica) => replica.sync.close());

function limitHeaders(name: string, limit: number, remaining: number, resetInMs: number): Headers {
  return new Headers({
    [`anthropic-ratelimit-${name}-limit`]: String(limit),
    [`anthropic-ratelimit-${name}-remaining`]: String(remaining),
    [`anthropic-ratelimit-${name}-reset`]: new Date(START + resetInMs).toISOString(),
  });
}

describe('FleetRateLimits: one client rate-limit view and holds, shared by a fleet', () => {
  it("pauses every replica for one replica's 429, from the next sync on, until its retry-after", async () => {
    const clock = manualClock(START);
    const store = createMemoryStore({ clock });
    const fleet = fleetOf(3, store, clock);
    observe(fleet[0]!, { status: 429, headers: new Headers({ 'retry-after': '30' }), message: 'slow down' });
    await settle();
    // Before its sync, a replica decides on what it knows itself: no request waits for the store.
    expect(check(fleet[1]!).ok).toBe(true);
    await syncAll(fleet);
    for (const replica of fleet) {
      expect(check(replica)).toMatchObject({ ok: false, reason: 'paused', until: START + 30_000 });
    }
    clock.advance(30_000);
    for (const replica of fleet) expect(check(replica).ok).toBe(true);
    // The store's value ended with the hold.
    expect(await store.get(`rate-limit:${CLIENT}:hold`)).toBeUndefined();
    close(fleet);
  });

  it('holds every replica on a spend limit; the others show their own wording, never the upstream message', async () => {
    const clock = manualClock(START);
    const store = createMemoryStore({ clock });
    const fleet = fleetOf(2, store, clock);
    observe(fleet[0]!, {
      status: 429,
      headers: new Headers(),
      errorCode: 'enforced_spend_limit_reached',
      message: 'Workspace spend limit of $100 reached',
    });
    await settle();
    await syncAll(fleet);
    const verdict = check(fleet[1]!);
    expect(verdict).toMatchObject({
      ok: false,
      reason: 'spend-limit',
      errorCode: 'enforced_spend_limit_reached',
      until: START + 60_000,
    });
    expect(verdict.ok ? '' : verdict.message).toMatch(/^The organization reached its spend limit/);
    expect(await store.get(`rate-limit:${CLIENT}:hold`)).not.toContain('Workspace');
    // A later plain pause elsewhere never shortens the spend-limit hold.
    observe(fleet[1]!, { status: 429, headers: new Headers({ 'retry-after': '2' }) });
    await settle();
    await syncAll(fleet);
    await syncAll(fleet);
    for (const replica of fleet) expect(check(replica)).toMatchObject({ reason: 'spend-limit', until: START + 60_000 });
    close(fleet);
  });

  it('holds every replica once one sees a limit with nothing left, until its reset', async () => {
    const clock = manualClock(START);
    const fleet = fleetOf(3, createMemoryStore({ clock }), clock);
    observe(fleet[2]!, { status: 200, headers: limitHeaders('requests', 50, 0, 20_000) });
    expect(check(fleet[0]!).ok).toBe(true);
    await syncAll(fleet);
    await syncAll(fleet);
    for (const replica of fleet) {
      expect(check(replica)).toMatchObject({
        ok: false,
        reason: 'rate-limit',
        limit: 'requests',
        until: START + 20_000,
      });
    }
    clock.advance(20_000);
    expect(check(fleet[0]!).ok).toBe(true);
    close(fleet);
  });

  it("takes the lower remaining of one window and a later window's view, never an older one", async () => {
    const clock = manualClock(START);
    const fleet = fleetOf(2, createMemoryStore({ clock }), clock);
    observe(fleet[0]!, { status: 200, headers: limitHeaders('requests', 50, 40, 20_000) });
    observe(fleet[1]!, { status: 200, headers: limitHeaders('requests', 50, 12, 20_000) });
    await syncAll(fleet);
    await syncAll(fleet);
    for (const replica of fleet) expect(replica.tracker.shared(CLIENT)?.limits.requests?.remaining).toBe(12);
    // A new window (later reset) replaces the view; the older one read afterwards changes nothing.
    observe(fleet[0]!, { status: 200, headers: limitHeaders('requests', 50, 49, 80_000) });
    await syncAll(fleet);
    await syncAll(fleet);
    for (const replica of fleet)
      expect(replica.tracker.shared(CLIENT)?.limits.requests).toMatchObject({ remaining: 49 });
    close(fleet);
  });

  it('ignores what it cannot read in the store, and never throws on it', async () => {
    const clock = manualClock(START);
    const store = createMemoryStore({ clock });
    const [replica] = fleetOf(1, store, clock);
    await store.set(`rate-limit:${CLIENT}:hold`, '{not json', 10_000);
    await store.set(`rate-limit:${CLIENT}:limits`, JSON.stringify([['requests', -1, 0, START + 1_000], 'x']), 10_000);
    await replica!.sync.sync();
    expect(check(replica!).ok).toBe(true);
    await store.set(`rate-limit:${CLIENT}:hold`, JSON.stringify(['paused', START + 5_000, 'Bearer sk-ant-x']), 10_000);
    await replica!.sync.sync();
    // The hold is honoured; an error code that is not one is dropped.
    expect(check(replica!)).toMatchObject({ ok: false, reason: 'paused', errorCode: undefined });
    expect(replica!.events).toEqual([]);
    close([replica!]);
  });

  it('with the store away, each replica keeps its own view: degraded once, no rejection, recovered later', async () => {
    const clock = manualClock(START);
    const memory = createMemoryStore({ clock });
    let down = false;
    const flaky: SharedStore = {
      ...memory,
      get: (key) => (down ? Promise.reject(new Error('connection refused')) : memory.get(key)),
      set: (key, value, ttl) => (down ? Promise.reject(new Error('connection refused')) : memory.set(key, value, ttl)),
    };
    const fleet = fleetOf(2, flaky, clock);
    down = true;
    observe(fleet[0]!, { status: 429, headers: new Headers({ 'retry-after': '30' }) });
    await settle();
    await syncAll(fleet);
    expect(check(fleet[0]!)).toMatchObject({ ok: false, reason: 'paused' });
    expect(check(fleet[1]!).ok).toBe(true);
    expect(fleet.map((r) => r.events.map((e) => e.type))).toEqual([['store-degraded'], ['store-degraded']]);
    down = false;
    await syncAll(fleet);
    await syncAll(fleet);
    // Back: the first sync writes what replica 0 learnt meanwhile; the next one gives it to replica 1.
    expect(check(fleet[1]!)).toMatchObject({ ok: false, reason: 'paused', until: START + 30_000 });
    expect(fleet[1]!.events.map((e) => e.type)).toEqual(['store-degraded', 'store-recovered']);
    close(fleet);
  });
});

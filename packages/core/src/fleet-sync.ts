import type { BreakerVerdict } from './breaker-machine.js';
import { withTimeout, type Clock, type TimerHandle } from './clock.js';
import type { GuardEvents } from './events.js';
import type { FleetOptions } from './options.js';
import type { SharedStore } from './shared-store.js';

/** Counters by name: a breaker's `fires`, `failures`, ...; the retry budget's `requests` and `retries`. */
export type FleetCounts = Record<string, number>;

/** What one shared counter set (a breaker, the retry budget) gives the sync and takes from it. */
export interface FleetMember {
  /** Its keys in the store start with this (`breaker:<key>`, `retry-budget`). */
  readonly storeKey: string;
  /** Breakers read the open and close hints; the retry budget has none. */
  readonly hints: boolean;
  readonly bucketMs: number;
  /** The window's length: bucket keys live twice as long in the store. */
  readonly windowMs: number;
  /** The local window at `now`, oldest first, each bucket with its absolute number; the count objects are live. */
  windowAt(now: number): { bucket: number; counts: Readonly<FleetCounts> }[];
  /** What the last sync learnt; `undefined` when the store is away (local state only). */
  applyFleet(view: FleetView | undefined): void;
}

/** A member's fleet-wide facts after one sync. */
export interface FleetView {
  /** The window's counts over every replica, this one included. */
  fleet: FleetCounts;
  /** The window's counts of the other replicas (fleet minus this replica's own, never negative). */
  elsewhere: FleetCounts;
  /** The latest opening any replica announced (its `openedAt`), or 0. */
  openedAt: number;
  /** The opening a fleet trial closed (its `openedAt`), or 0. */
  closedAfter: number;
}

/**
 * Fleet state kept as plain values rather than counters (a client's rate-limit view and hold): each
 * sync reads its keys, merges what they hold into the local state, and writes back what the merge
 * knows more of.
 */
export interface FleetStateMember {
  /** Its keys in the store, read every sync, in a fixed order. */
  readonly stateKeys: readonly string[];
  /**
   * Merges what the store holds under {@link stateKeys} (in order, `undefined` for an absent key) and
   * returns the writes that bring the store up to the merged state (none when it already holds it).
   */
  mergeFleet(values: readonly (string | undefined)[]): FleetWrite[];
}

/** One value a {@link FleetStateMember} writes. */
export interface FleetWrite {
  readonly key: string;
  readonly value: string;
  readonly ttlMs: number;
}

const storeUnavailable = (ms: number) => new Error(`shared store did not answer within ${ms} ms`);

/**
 * Keeps this replica's breakers, retry budget and rate-limit view in step with the fleet through a
 * {@link SharedStore}, in the background: every `syncIntervalMs` it adds what each breaker counted
 * since the last sync to the store's per-bucket counters, reads the fleet's window back, reads the
 * open and close hints, and merges the client's rate-limit view and hold both ways.
 * The request path never waits for it; the one command a request may wait for is the half-open
 * trial's lease ({@link FleetSync.acquireTrial}), bounded by `commandTimeoutMs`. Any failed or slow
 * command marks the store degraded (`store-degraded`, once): breakers then decide on local state
 * alone until a sync succeeds again (`store-recovered`), which pushes what was counted meanwhile
 * (what is still inside the window).
 *
 * @example
 * ```ts
 * const sync = new FleetSync(store, clock, events, { syncIntervalMs: 500, commandTimeoutMs: 50, trialLeaseMs: 10_000 });
 * sync.add(breaker);
 * await sync.sync(); // what the timer does every 500 ms
 * ```
 */
export class FleetSync {
  readonly #members = new Map<string, FleetMember>();
  readonly #states: FleetStateMember[] = [];
  /** Per breaker key and bucket: what was already added to the store, so each sync adds only the difference. */
  readonly #pushed = new Map<string, Map<number, FleetCounts>>();
  readonly #replica: string;
  #connected = true;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(
    private readonly store: SharedStore,
    private readonly clock: Clock,
    private readonly events: GuardEvents,
    private readonly options: Readonly<Required<FleetOptions>>,
  ) {
    this.#replica = Array.from(globalThis.crypto.getRandomValues(new Uint8Array(8)), (b) =>
      b.toString(16).padStart(2, '0'),
    ).join('');
  }

  get syncIntervalMs(): number {
    return this.options.syncIntervalMs;
  }

  /** False while the store is away (since a command failed or was slow, until a sync succeeds). */
  get connected(): boolean {
    return this.#connected;
  }

  /** Syncs `member` from now on; the first member starts the timer, so a guard without breakers arms none. */
  add(member: FleetMember): void {
    this.#members.set(member.storeKey, member);
    if (this.#timer === undefined && !this.#closed) this.#arm();
  }

  /** Syncs `member`'s values from now on (arms the timer as {@link add} does). */
  addState(member: FleetStateMember): void {
    this.#states.push(member);
    if (this.#timer === undefined && !this.#closed) this.#arm();
  }

  /** Writes `writes` now, in the background (a hold one replica just learnt): nobody waits for it. */
  publish(writes: readonly FleetWrite[]): void {
    for (const { key, value, ttlMs } of writes) this.#background(this.store.set(key, value, ttlMs));
  }

  /**
   * One sync of every member, now (the timer's job; tests call it to drive the fleet). Never
   * rejects: a failure marks the store degraded. Concurrent calls share one run.
   */
  sync(): Promise<void> {
    this.#running ??= this.#syncAll().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /**
   * Asks the store for the fleet's one half-open trial of `key`: `true` when this call holds it,
   * `false` when another replica does, `undefined` when the store is away (the local trial goes on,
   * as without a fleet).
   */
  async acquireTrial(key: string, trial: number, resetTimeout: number): Promise<boolean | undefined> {
    if (!this.#connected) return undefined;
    try {
      const ttl = Math.max(1, Math.min(this.options.trialLeaseMs, resetTimeout));
      return await this.#call(this.store.acquireLease(`breaker:${key}:trial`, this.#holder(key, trial), ttl));
    } catch (error) {
      this.#degrade(error);
      return undefined;
    }
  }

  /** A fleet trial ended: a success tells the fleet to close; a failure or a neutral end frees the lease. */
  trialSettled(key: string, trial: number, verdict: BreakerVerdict, openedAt: number, resetTimeout: number): void {
    if (verdict === 'success') {
      // The lease is kept until it expires: a replica that has not yet synced the close must not send a second trial.
      this.#background(this.store.set(`breaker:${key}:closed`, String(openedAt), this.#hintTtl(resetTimeout)));
    } else {
      // A failure re-opened the breaker (its hint follows); a neutral end left the slot free: either way, let go.
      this.#background(this.store.releaseLease(`breaker:${key}:trial`, this.#holder(key, trial)));
    }
  }

  /** This replica opened `key` at `openedAt`: every replica honours it within one sync. */
  opened(key: string, openedAt: number, resetTimeout: number): void {
    this.#background(this.store.set(`breaker:${key}:open`, String(openedAt), this.#hintTtl(resetTimeout)));
  }

  /** Stops the timer; a sync already running finishes. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#timer = this.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.sync().then(() => {
        if (!this.#closed) this.#arm();
      });
    }, this.options.syncIntervalMs);
  }

  async #syncAll(): Promise<void> {
    try {
      for (const member of this.#members.values()) await this.#syncOne(member);
      for (const member of this.#states) await this.#syncState(member);
      if (!this.#connected) {
        this.#connected = true;
        this.events.emit({ type: 'store-recovered' });
      }
    } catch (error) {
      this.#degrade(error);
    }
  }

  async #syncOne(member: FleetMember): Promise<void> {
    const now = this.clock.now();
    const window = member.windowAt(now);
    let pushed = this.#pushed.get(member.storeKey);
    if (pushed === undefined) this.#pushed.set(member.storeKey, (pushed = new Map<number, FleetCounts>()));
    const ttl = member.windowMs * 2;
    for (const { bucket, counts } of window) {
      const taken = { ...counts };
      const before = pushed.get(bucket) ?? {};
      const delta: FleetCounts = {};
      for (const [field, value] of Object.entries(taken)) {
        if (value > (before[field] ?? 0)) delta[field] = value - (before[field] ?? 0);
      }
      if (Object.keys(delta).length === 0) continue;
      await this.#call(this.store.addCounters(this.#bucketKey(member, bucket), delta, ttl));
      pushed.set(bucket, taken);
    }
    const first = window[0]?.bucket ?? 0;
    for (const bucket of pushed.keys()) if (bucket < first) pushed.delete(bucket);
    const noHint = Promise.resolve(undefined);
    const [buckets, openHint, closeHint] = await this.#call(
      Promise.all([
        this.store.getCounters(window.map(({ bucket }) => this.#bucketKey(member, bucket))),
        member.hints ? this.store.get(`${member.storeKey}:open`) : noHint,
        member.hints ? this.store.get(`${member.storeKey}:closed`) : noHint,
      ]),
    );
    const fleet: FleetCounts = {};
    for (const counts of buckets) {
      for (const [field, value] of Object.entries(counts)) fleet[field] = (fleet[field] ?? 0) + value;
    }
    // Own counts as pushed (not as they are now): what the fleet's figures already hold of this replica.
    const own: FleetCounts = {};
    for (const { bucket } of window) {
      for (const [field, value] of Object.entries(pushed.get(bucket) ?? {})) own[field] = (own[field] ?? 0) + value;
    }
    const elsewhere: FleetCounts = {};
    for (const [field, value] of Object.entries(fleet)) elsewhere[field] = Math.max(0, value - (own[field] ?? 0));
    member.applyFleet({
      fleet,
      elsewhere,
      openedAt: Number(openHint ?? 0) || 0,
      closedAfter: Number(closeHint ?? 0) || 0,
    });
  }

  async #syncState(member: FleetStateMember): Promise<void> {
    const values = await this.#call(Promise.all(member.stateKeys.map((key) => this.store.get(key))));
    const writes = member.mergeFleet(values);
    if (writes.length === 0) return;
    await this.#call(Promise.all(writes.map(({ key, value, ttlMs }) => this.store.set(key, value, ttlMs))));
  }

  #call<T>(promise: Promise<T>): Promise<T> {
    return withTimeout(this.clock, promise, this.options.commandTimeoutMs, storeUnavailable);
  }

  /** A write nobody waits for: its failure marks the store degraded, never an unhandled rejection. */
  #background(promise: Promise<unknown>): void {
    if (!this.#connected) {
      promise.catch(() => undefined);
      return;
    }
    this.#call(promise).catch((error: unknown) => this.#degrade(error));
  }

  #degrade(error: unknown): void {
    if (!this.#connected) return;
    this.#connected = false;
    for (const member of this.#members.values()) member.applyFleet(undefined);
    const reason = error instanceof Error ? error.name : 'error';
    this.events.emit({ type: 'store-degraded', reason });
  }

  #holder(key: string, trial: number): string {
    return `${this.#replica}:${key}:${trial}`;
  }

  #bucketKey(member: FleetMember, bucket: number): string {
    return `${member.storeKey}:${member.bucketMs}:${bucket}`;
  }

  #hintTtl(resetTimeout: number): number {
    return resetTimeout + this.options.trialLeaseMs + this.options.syncIntervalMs * 4;
  }
}

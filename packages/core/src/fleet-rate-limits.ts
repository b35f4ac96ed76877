import type { FleetStateMember, FleetSync, FleetWrite } from './fleet-sync.js';
import {
  RATE_LIMIT_NAMES,
  type RateLimitName,
  type RateLimitTracker,
  type SharedRateLimitState,
} from './rate-limit-tracker.js';
import { upstreamErrorCode } from './upstream-headers.js';

/**
 * One client's rate-limit view and hold, shared by a fleet: a 429's pause, a spend-limit hold or a
 * limit with nothing left, learnt by one replica, holds the client on every replica. The store holds
 * two values per client, under its hash (never a key): `rate-limit:<clientId>:hold` (reason, end,
 * `error_code`; it expires when the hold ends) and `rate-limit:<clientId>:limits` (each limit's
 * `limit`, `remaining` and reset; it expires at the last reset). A hold is published the moment it is
 * learnt, in the background; every sync merges both values into the local tracker (see
 * {@link RateLimitTracker.adopt}) and writes back what the merge knows more of. The request path
 * only ever reads the local tracker. While the store is away nothing is shared: each replica goes
 * on with its own view, which keeps what it learnt from the fleet until that ends.
 *
 * @example
 * ```ts
 * const share = new FleetRateLimits(tracker, clientId, fleetSync);
 * const hold = tracker.observe(clientId, answer);
 * if (hold) share.publish();
 * ```
 */
export class FleetRateLimits implements FleetStateMember {
  readonly stateKeys: readonly string[];
  readonly #tracker: RateLimitTracker;
  readonly #clientId: string;
  readonly #fleet: FleetSync;
  readonly #now: () => number;

  constructor(tracker: RateLimitTracker, clientId: string, fleet: FleetSync, now: () => number) {
    this.#tracker = tracker;
    this.#clientId = clientId;
    this.#fleet = fleet;
    this.#now = now;
    this.stateKeys = [`rate-limit:${clientId}:hold`, `rate-limit:${clientId}:limits`];
    fleet.addState(this);
  }

  /** Shares what the tracker now knows (a hold just learnt) at once, without waiting for the next sync. */
  publish(): void {
    this.#fleet.publish(this.#writes(undefined, undefined));
  }

  /** @internal For the fleet sync. */
  mergeFleet(values: readonly (string | undefined)[]): FleetWrite[] {
    const [hold, limits] = values;
    const state: SharedRateLimitState = { hold: parseHold(hold), limits: parseLimits(limits) };
    if (state.hold !== undefined || Object.keys(state.limits).length > 0) this.#tracker.adopt(this.#clientId, state);
    return this.#writes(hold, limits);
  }

  /** The writes that make the store hold the tracker's state, skipping a value the store already holds. */
  #writes(storedHold: string | undefined, storedLimits: string | undefined): FleetWrite[] {
    const state = this.#tracker.shared(this.#clientId);
    if (state === undefined) return [];
    const now = this.#now();
    const writes: FleetWrite[] = [];
    const [holdKey, limitsKey] = this.stateKeys as [string, string];
    if (state.hold !== undefined) {
      const value = JSON.stringify([state.hold.reason, state.hold.until, state.hold.errorCode ?? null]);
      if (value !== storedHold) writes.push({ key: holdKey, value, ttlMs: state.hold.until - now });
    }
    const names = RATE_LIMIT_NAMES.filter((name) => state.limits[name] !== undefined);
    if (names.length > 0) {
      const entries = names.map((name) => {
        const view = state.limits[name]!;
        return [name, view.limit, view.remaining, view.resetAt] as const;
      });
      const value = JSON.stringify(entries);
      const lastReset = Math.max(...entries.map((entry) => entry[3]));
      if (value !== storedLimits) writes.push({ key: limitsKey, value, ttlMs: lastReset - now });
    }
    return writes.filter((write) => write.ttlMs > 0);
  }
}

function parseJson(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

const NO_SECRETS: readonly string[] = [];
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** A stored hold, or `undefined` for anything malformed (the store is not trusted to hold only ours). */
function parseHold(value: string | undefined): SharedRateLimitState['hold'] {
  const hold = parseJson(value);
  if (!Array.isArray(hold) || hold.length !== 3) return undefined;
  const [reason, until, errorCode] = hold as unknown[];
  if ((reason !== 'paused' && reason !== 'spend-limit') || !isTime(until)) return undefined;
  // Shaped as the API writes them; anything else read from the store is dropped.
  return { reason, until, errorCode: upstreamErrorCode(errorCode, NO_SECRETS) };
}

function parseLimits(value: string | undefined): SharedRateLimitState['limits'] {
  const entries = parseJson(value);
  const limits: Partial<Record<RateLimitName, { limit: number; remaining: number; resetAt: number }>> = {};
  if (!Array.isArray(entries)) return limits;
  for (const entry of entries as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 4) continue;
    const [name, limit, remaining, resetAt] = entry as unknown[];
    if (!RATE_LIMIT_NAMES.includes(name as RateLimitName) || !isCount(limit) || !isCount(remaining)) continue;
    if (!isTime(resetAt)) continue;
    limits[name as RateLimitName] = { limit, remaining, resetAt };
  }
  return limits;
}

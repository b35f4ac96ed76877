import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { DEFAULT_DEADLINE_HEADERS } from './deadline-header.js';
import type { GuardEventListener } from './events.js';
import type { Instrumentation } from './instrumentation.js';
import type { GuardLogger, LogFormat } from './logger.js';
import type { RetryBudgetOptions } from './retry-budget.js';
import { createMemoryStore, isSharedStore, type SharedStore } from './shared-store.js';
import type { FallbackClient, FallbackTarget, RouteFallback } from './fallback-options.js';
import { HEDGE_DEFAULTS, type HedgeOptions, type NormalizedHedge } from './hedge-options.js';
import type { ClaudeClient } from './claude-client.js';
import type { Lane } from './concurrency-limiter.js';
import type { RateLimitReserve } from './rate-limit-tracker.js';

/**
 * Fleet mode's timing: how often a replica syncs with the shared store, how long it waits for one
 * command, how long the fleet's half-open trial lease lasts.
 *
 * @example
 * ```ts
 * createClaudeGuard({ client, store, fleet: { syncIntervalMs: 250, commandTimeoutMs: 50 } });
 * ```
 */
export interface FleetOptions {
  /** Milliseconds between two syncs with the store (250 to 1 000): the bound on how stale a replica's fleet view is. Default 500. */
  syncIntervalMs?: number;
  /** The longest a replica waits for one store command; a slower answer counts as the store being away. Default 50. */
  commandTimeoutMs?: number;
  /** How long the fleet's one half-open trial holds its lease, at most (capped at `resetTimeout`). Default 10 000. */
  trialLeaseMs?: number;
}

/**
 * The request's time budget.
 *
 * @example
 * ```ts
 * createClaudeGuard({ client, deadline: { defaultMs: 20_000, maxMs: 120_000 } });
 * ```
 */
export interface DeadlineOptions {
  /** Budget when the caller sends no deadline header. Default `60_000`. */
  defaultMs?: number;
  /** Upper bound whatever the caller asks for. Default `300_000`. */
  maxMs?: number;
  /** Headers read for the caller's budget; the smallest wins. Default `x-request-timeout-ms`, `x-envoy-expected-rq-timeout-ms`, `grpc-timeout`. */
  headers?: readonly string[];
  /** Kept back from the budget to write the response. Default `5`. */
  reserveMs?: number;
}

/**
 * Which failures are retried, how often and how far apart.
 *
 * @example
 * ```ts
 * claudeGuard(guard, { route: 'chat', retry: { maxAttempts: 2, attemptTimeoutMs: 20_000 } });
 * ```
 */
export interface RetryOptions {
  /** Attempts in all, the first included. Default `3`. */
  maxAttempts?: number;
  /** Backoff base (full jitter, exponential). Default `500`. */
  baseDelayMs?: number;
  /** Backoff cap. Default `8_000`. */
  maxDelayMs?: number;
  /** The route's own limit per attempt; its expiry is retried. Default: none (each attempt may use all the time left). */
  attemptTimeoutMs?: number | undefined;
}

/**
 * One circuit breaker per key.
 *
 * @example
 * ```ts
 * claudeGuard(guard, { route: 'chat', breaker: { errorThresholdPercentage: 25, resetTimeout: 10_000 } });
 * ```
 */
export interface BreakerOptions {
  /** Breaker key; routes naming the same key share a breaker. Default: the route name. */
  key?: string;
  /** Failure percentage in the window that opens the breaker. Default `50`. */
  errorThresholdPercentage?: number;
  /** Calls in the window before the percentage counts. Default `10`. */
  volumeThreshold?: number;
  /** The rolling window. Default `10_000`. */
  rollingCountTimeout?: number;
  /** Buckets in the window. Default `10`. */
  rollingCountBuckets?: number;
  /** Time open before one trial call is let through. Default `30_000`. */
  resetTimeout?: number;
  /**
   * Half-open, a request with less time left than this may not be the trial (it gets the open
   * breaker's 503 and leaves the trial to a request that can prove something); `0` lets any
   * request be the trial. At most half of `deadline.defaultMs`, so that a request with the route's
   * own deadline always qualifies. Default `1_000`.
   */
  minTrialBudgetMs?: number;
  /** Count 429s as upstream ill health. Default `false`. */
  countRateLimits?: boolean;
  /** Turn the breaker off for the route. Default `true`. */
  enabled?: boolean;
}

/**
 * The streaming engine's timeouts.
 *
 * @example
 * ```ts
 * createClaudeGuard({ client, stream: { idleTimeoutMs: 30_000, heartbeatMs: 10_000 } });
 * ```
 */
export interface StreamOptions {
  /** Per attempt, until the first upstream event. Default `60_000`. */
  firstEventTimeoutMs?: number;
  /** Between upstream events. Default `60_000`. */
  idleTimeoutMs?: number;
  /** `event: ping` after this long without output. Default `15_000`. */
  heartbeatMs?: number;
  /** Largest single upstream SSE event accepted. Default `1_048_576`. */
  maxEventBytes?: number;
  /**
   * Hedged first events (opt-in): one more attempt in parallel when the first event (a non-streaming
   * call's response headers) is late; `false`: none. Default `false`.
   */
  hedge?: HedgeOptions | false;
}

/**
 * Input limits of the Anthropic-compatible passthrough route.
 *
 * @example
 * ```ts
 * claudeProxy(guard, { route: 'proxy', proxy: { allowedModels: ['claude-sonnet-5'], maxTokensCap: 4096 } });
 * ```
 */
export interface ProxyOptions {
  /** Largest request body. Default `1_048_576`. */
  maxBodyBytes?: number;
  /** Models the route accepts. Default: any. */
  allowedModels?: readonly string[] | undefined;
  /** Highest `max_tokens` accepted. Default: no cap. */
  maxTokensCap?: number | undefined;
  /** Pass the upstream's 4xx messages (redacted) to the client. Default `true`. */
  forwardUpstreamClientErrors?: boolean;
}

/**
 * Admission control: how many upstream calls a route (or all routes sharing its `breaker.key`) makes at
 * once, and the bounded queue in front. Unset `maxConcurrency`: no limit (nothing is queued or counted).
 *
 * @example
 * ```ts
 * claudeGuard(guard, { route: 'chat', concurrency: { maxConcurrency: 8, maxQueue: 16 } });
 * claudeGuard(guard, { route: 'nightly', concurrency: { maxConcurrency: 8, lane: 'batch' } });
 * ```
 */
export interface ConcurrencyOptions {
  /** Upstream calls at once (a stream holds its slot until it ends; retries reuse it). Default: no limit. */
  maxConcurrency?: number | undefined;
  /** Requests waiting at most, both lanes together; beyond it, an immediate 503. Default: `maxConcurrency`. */
  maxQueue?: number | undefined;
  /** The lane of this route's calls: `interactive` goes first, `batch` behind it. Default `interactive`. */
  lane?: Lane;
  /** A batch request that has waited this long takes every other freed slot from interactive ones. Default `5_000`. */
  batchMaxWaitMs?: number;
  /** The `retry-after` of the 503 a full queue answers. Default `1_000`. */
  queueFullRetryAfterMs?: number;
}

/**
 * Anthropic rate-limit awareness, shared by every route of the guard (one client: its API key).
 *
 * @example
 * ```ts
 * createClaudeGuard({ client, rateLimits: { reserve: { requests: 2 }, spendLimitHoldMs: 300_000 } });
 * ```
 */
export interface RateLimitOptions {
  /** Read the `anthropic-ratelimit-*` headers and hold requests that cannot fit. Default `true`. */
  enabled?: boolean;
  /** Kept back from each limit (`requests`, `inputTokens`, `outputTokens`, `tokens`). Default `0` each. */
  reserve?: RateLimitReserve;
  /** How long a spend-limit 429 without `retry-after` holds the client. Default `60_000`. */
  spendLimitHoldMs?: number;
  /** Clients (API keys) remembered at most. Default `1_000`. */
  maxClients?: number;
}

/**
 * Options of {@link createClaudeGuard}. Every group is also a per-route override.
 *
 * @example
 * ```ts
 * createClaudeGuard({ client: new Anthropic(), deadline: { defaultMs: 30_000 }, logger: console });
 * ```
 */
export interface ClaudeGuardOptions {
  /** The Anthropic client. The guard calls it with `maxRetries: 0`: it owns retries. */
  client: ClaudeClient;
  deadline?: DeadlineOptions;
  retry?: RetryOptions;
  /** Retry budget against storms, shared by all routes of this guard; `false` turns it off. */
  retryBudget?: RetryBudgetOptions | false;
  breaker?: Omit<BreakerOptions, 'key'>;
  stream?: StreamOptions;
  proxy?: ProxyOptions;
  /** Concurrency limit and queue, the default of every route. Default: no limit. */
  concurrency?: ConcurrencyOptions;
  /** Anthropic rate-limit and spend-limit awareness, guard-wide (not per route). */
  rateLimits?: RateLimitOptions;
  /**
   * Guarded routes (`claudeGuard`, `guard.run`): answer an upstream 4xx with the upstream's own
   * message (redacted) instead of the guard's wording. The log line and events carry it either
   * way. The passthrough's own is `proxy.forwardUpstreamClientErrors`. Default `false`.
   */
  forwardUpstreamClientErrors?: boolean;
  /** pino- or console-compatible; one line per request, at its level. Default: none. */
  logger?: GuardLogger | undefined;
  /**
   * How lines reach `logger`: `object` (`info(record, message)`), `json` (one JSON string per line)
   * or `auto` (`json` for a console, `object` otherwise). Default `auto`.
   */
  logFormat?: LogFormat;
  /** Typed events: attempts, retries, breaker transitions, ... */
  onEvent?: GuardEventListener | undefined;
  /**
   * Spans per request and per upstream attempt (`createOtelInstrumentation()` from
   * `@claude-guard/telemetry/otel`, or your own {@link Instrumentation}). Default: none, and
   * nothing is built for them.
   */
  instrumentation?: Instrumentation | undefined;
  /**
   * Where state shared by several replicas lives: `createRedisStore()` from `@claude-guard/redis`
   * for a fleet, or your own {@link SharedStore}. Default: an in-memory store of this guard's own
   * ({@link createMemoryStore}), so a single process behaves as without one.
   */
  store?: SharedStore | undefined;
  /** Fleet mode's timing (with a `store`): sync interval, command timeout, the trial lease. */
  fleet?: FleetOptions;
  /** Header carrying the correlation id. Default `x-request-id`. */
  requestIdHeader?: string;
  clock?: Clock;
  /** Randomness for backoff jitter and ids. Default `Math.random`. */
  random?: () => number;
}

/**
 * Per-route options for the middleware and the passthrough.
 *
 * @example
 * ```ts
 * claudeGuard(guard, { route: 'summarize', retry: { maxAttempts: 2 }, fallback: { model: 'claude-haiku-4-5' } });
 * ```
 */
export interface RouteOptions {
  /** Route name, used in logs, events, errors and as the default breaker key. */
  route: string;
  deadline?: DeadlineOptions;
  retry?: RetryOptions;
  breaker?: BreakerOptions;
  stream?: StreamOptions;
  proxy?: ProxyOptions;
  /** Overrides the guard's `concurrency`; routes sharing a `breaker.key` share one limiter (same options). */
  concurrency?: ConcurrencyOptions;
  /** Overrides the guard's `forwardUpstreamClientErrors` for this route's handler calls. */
  forwardUpstreamClientErrors?: boolean;
  /**
   * What answers when the breaker is open or the attempts are exhausted before anything was sent: a
   * target, a list of targets tried in order (streams and non-streaming calls), or a function
   * (non-streaming calls).
   */
  fallback?: RouteFallback | undefined;
}

/** @internal Normalized once per guard. */
export interface GuardConfig {
  readonly client: ClaudeClient;
  readonly deadline: Required<DeadlineOptions>;
  readonly retry: NormalizedRetry;
  readonly retryBudget: RetryBudgetOptions | false;
  readonly breaker: Required<Omit<BreakerOptions, 'key'>>;
  readonly stream: NormalizedStream;
  readonly proxy: NormalizedProxy;
  readonly concurrency: NormalizedConcurrency;
  readonly rateLimits: NormalizedRateLimits;
  readonly forwardUpstreamClientErrors: boolean;
  readonly logger: GuardLogger | undefined;
  readonly logFormat: LogFormat;
  readonly onEvent: GuardEventListener | undefined;
  readonly instrumentation: Instrumentation | undefined;
  /** The shared store: the user's, or an in-memory one of this guard's own. */
  readonly store: SharedStore;
  /** True when `store` was given (fleet mode); false for the in-memory default. */
  readonly storeShared: boolean;
  readonly fleet: Readonly<Required<FleetOptions>>;
  readonly requestIdHeader: string;
  readonly clock: Clock;
  readonly random: () => number;
}

/** @internal Stream options with defaults applied. */
export type NormalizedStream = Readonly<Required<Omit<StreamOptions, 'hedge'>>> & {
  readonly hedge: NormalizedHedge | false;
};

/** @internal */
export interface NormalizedRetry {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly attemptTimeoutMs: number | undefined;
}

/** @internal */
export interface NormalizedProxy {
  readonly maxBodyBytes: number;
  readonly allowedModels: ReadonlySet<string> | undefined;
  readonly maxTokensCap: number | undefined;
  readonly forwardUpstreamClientErrors: boolean;
}

/** @internal */
export interface NormalizedConcurrency {
  readonly maxConcurrency: number | undefined;
  /** `undefined`: as many as `maxConcurrency`. */
  readonly maxQueue: number | undefined;
  readonly lane: Lane;
  readonly batchMaxWaitMs: number;
  readonly queueFullRetryAfterMs: number;
}

/** @internal */
export interface NormalizedRateLimits {
  readonly enabled: boolean;
  readonly reserve: Readonly<Required<RateLimitReserve>>;
  readonly spendLimitHoldMs: number;
  readonly maxClients: number;
}

/** @internal Normalized once per mounted route. */
export interface RouteConfig {
  readonly route: string;
  readonly deadline: Required<DeadlineOptions>;
  readonly retry: NormalizedRetry;
  readonly breaker: Required<BreakerOptions>;
  readonly stream: NormalizedStream;
  readonly proxy: NormalizedProxy;
  readonly concurrency: NormalizedConcurrency;
  /** Handler calls answer an upstream 4xx with its own message (redacted). */
  readonly forwardUpstreamClientErrors: boolean;
  readonly fallback: RouteFallback | undefined;
  /** The fallback's targets, validated; empty for none or a function. */
  readonly fallbackTargets: readonly NormalizedFallbackTarget[];
}

/** @internal A fallback target with its defaults applied. */
export interface NormalizedFallbackTarget {
  readonly model: string;
  readonly client: FallbackClient | undefined;
  readonly maxAttempts: number;
  readonly breakerKey: string;
}

/**
 * The defaults, in one place; the README's tables are checked against them.
 *
 * @example
 * ```ts
 * DEFAULTS.breaker.resetTimeout; // 30_000
 * ```
 */
export const DEFAULTS = {
  deadline: { defaultMs: 60_000, maxMs: 300_000, headers: DEFAULT_DEADLINE_HEADERS, reserveMs: 5 },
  retry: { maxAttempts: 3, baseDelayMs: 500, maxDelayMs: 8_000, attemptTimeoutMs: undefined },
  retryBudget: { percentCanRetry: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 },
  breaker: {
    errorThresholdPercentage: 50,
    volumeThreshold: 10,
    rollingCountTimeout: 10_000,
    rollingCountBuckets: 10,
    resetTimeout: 30_000,
    minTrialBudgetMs: 1_000,
    countRateLimits: false,
    enabled: true,
  },
  stream: {
    firstEventTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
    heartbeatMs: 15_000,
    maxEventBytes: 1_048_576,
    hedge: false,
  },
  /** The fields of a `stream.hedge` object (`delay` has no default: it is required). */
  hedge: { delay: undefined, ...HEDGE_DEFAULTS },
  /** The fields of a fallback target (`model` is required; `client`: the route's; `breakerKey`: `<route>:fallback:<model>`). */
  fallbackTarget: { model: undefined, client: undefined, maxAttempts: 1, breakerKey: undefined },
  proxy: {
    maxBodyBytes: 1_048_576,
    allowedModels: undefined,
    maxTokensCap: undefined,
    forwardUpstreamClientErrors: true,
  },
  concurrency: {
    maxConcurrency: undefined,
    maxQueue: undefined,
    lane: 'interactive',
    batchMaxWaitMs: 5_000,
    queueFullRetryAfterMs: 1_000,
  },
  rateLimits: {
    enabled: true,
    reserve: { requests: 0, inputTokens: 0, outputTokens: 0, tokens: 0 },
    spendLimitHoldMs: 60_000,
    maxClients: 1_000,
  },
  fleet: { syncIntervalMs: 500, commandTimeoutMs: 50, trialLeaseMs: 10_000 },
  forwardUpstreamClientErrors: false,
  logFormat: 'auto',
  requestIdHeader: 'x-request-id',
} as const;

function fail(option: string, expected: string, value: unknown): never {
  throw new TypeError(
    `claude-guard: option \`${option}\` must be ${expected}, got ${JSON.stringify(value) ?? String(value)}`,
  );
}

/** Every key of an options group, so that a key added to the type must be added here (and is then accepted). */
type KnownKeys<T> = { readonly [K in keyof Required<T>]: true };

const DEADLINE_KEYS: KnownKeys<DeadlineOptions> = { defaultMs: true, maxMs: true, headers: true, reserveMs: true };
const RETRY_KEYS: KnownKeys<RetryOptions> = {
  maxAttempts: true,
  baseDelayMs: true,
  maxDelayMs: true,
  attemptTimeoutMs: true,
};
const RETRY_BUDGET_KEYS: KnownKeys<RetryBudgetOptions> = {
  percentCanRetry: true,
  minRetriesPerSecond: true,
  ttlMs: true,
  now: true,
};
const GUARD_BREAKER_KEYS: KnownKeys<Omit<BreakerOptions, 'key'>> = {
  errorThresholdPercentage: true,
  volumeThreshold: true,
  rollingCountTimeout: true,
  rollingCountBuckets: true,
  resetTimeout: true,
  minTrialBudgetMs: true,
  countRateLimits: true,
  enabled: true,
};
const ROUTE_BREAKER_KEYS: KnownKeys<BreakerOptions> = { key: true, ...GUARD_BREAKER_KEYS };
const STREAM_KEYS: KnownKeys<StreamOptions> = {
  firstEventTimeoutMs: true,
  idleTimeoutMs: true,
  heartbeatMs: true,
  maxEventBytes: true,
  hedge: true,
};
const HEDGE_KEYS: KnownKeys<HedgeOptions> = { delay: true, initialDelayMs: true, minSamples: true, maxHedges: true };
const PROXY_KEYS: KnownKeys<ProxyOptions> = {
  maxBodyBytes: true,
  allowedModels: true,
  maxTokensCap: true,
  forwardUpstreamClientErrors: true,
};
const CONCURRENCY_KEYS: KnownKeys<ConcurrencyOptions> = {
  maxConcurrency: true,
  maxQueue: true,
  lane: true,
  batchMaxWaitMs: true,
  queueFullRetryAfterMs: true,
};
const RATE_LIMIT_KEYS: KnownKeys<RateLimitOptions> = {
  enabled: true,
  reserve: true,
  spendLimitHoldMs: true,
  maxClients: true,
};
const RESERVE_KEYS: KnownKeys<RateLimitReserve> = {
  requests: true,
  inputTokens: true,
  outputTokens: true,
  tokens: true,
};
const FLEET_KEYS: KnownKeys<FleetOptions> = { syncIntervalMs: true, commandTimeoutMs: true, trialLeaseMs: true };
const FALLBACK_TARGET_KEYS: KnownKeys<FallbackTarget> = {
  model: true,
  client: true,
  maxAttempts: true,
  breakerKey: true,
};
const GUARD_KEYS: KnownKeys<ClaudeGuardOptions> = {
  client: true,
  deadline: true,
  retry: true,
  retryBudget: true,
  breaker: true,
  stream: true,
  proxy: true,
  concurrency: true,
  rateLimits: true,
  forwardUpstreamClientErrors: true,
  logger: true,
  logFormat: true,
  onEvent: true,
  instrumentation: true,
  store: true,
  fleet: true,
  requestIdHeader: true,
  clock: true,
  random: true,
};
const ROUTE_KEYS: KnownKeys<RouteOptions> = {
  route: true,
  deadline: true,
  retry: true,
  breaker: true,
  stream: true,
  proxy: true,
  concurrency: true,
  forwardUpstreamClientErrors: true,
  fallback: true,
};

/** Where an options object was given, for the error message. */
type Site = { kind: 'guard' } | { kind: 'route'; name: string | undefined };

function siteText(site: Site): string {
  if (site.kind === 'guard') return 'createClaudeGuard()';
  return site.name === undefined ? 'route options' : `route '${site.name}'`;
}

/**
 * Rejects a key that `known` lacks, naming its full path and the closest known key. Runs once per
 * guard or mounted route, never per request.
 */
function checkKeys(path: string, value: object, known: object, site: Site): void {
  const knownKeys = Object.keys(known);
  for (const key of Object.keys(value)) {
    if (Object.hasOwn(known, key)) continue;
    const option = path === '' ? key : `${path}.${key}`;
    const closest = closestKey(key, knownKeys);
    const elsewhere = site.kind === 'guard' ? routeOnly(option) : guardOnly(option);
    // Known one level up or down beats a near spelling: `retryBudget` on a route is not `retry`.
    const hint =
      elsewhere ??
      (closest !== undefined
        ? `did you mean \`${path === '' ? closest : `${path}.${closest}`}\`?`
        : `${path === '' ? siteText(site) : `\`${path}\``} takes ${knownKeys.map((k) => `\`${k}\``).join(', ')}`);
    throw new TypeError(`claude-guard: unknown option \`${option}\` in ${siteText(site)}; ${hint}`);
  }
}

/** An options group: absent, or a plain object whose keys are all known. */
function checkGroup(path: string, value: unknown, known: object, site: Site): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'an object', value);
  checkKeys(path, value, known, site);
}

function routeOnly(option: string): string | undefined {
  return option === 'route' || option === 'fallback' || option === 'breaker.key'
    ? `\`${option}\` is a route option (guard.route(), claudeGuard(), claudeProxy())`
    : undefined;
}

function guardOnly(option: string): string | undefined {
  return Object.hasOwn(GUARD_KEYS, option) && !Object.hasOwn(ROUTE_KEYS, option)
    ? `\`${option}\` is an option of createClaudeGuard(), shared by all routes`
    : undefined;
}

/**
 * The known key nearest to a misspelled one: the same but for case, a prefix of one or the other
 * (3 characters at least), the same stem (4 characters and half the word at least: `retries`,
 * `retry`), or at most 3 edits away (fewer for short keys, so `foo` is not `key`).
 */
function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    const longer = Math.max(lower.length, other.length);
    const prefix = Math.min(lower.length, other.length) >= 3 && (other.startsWith(lower) || lower.startsWith(other));
    const stem = sharedPrefix(lower, other);
    const distance = editDistance(lower, other);
    const limit = Math.min(3, Math.max(1, Math.floor(longer / 3)));
    if (distance > limit && !prefix && !(stem >= 4 && stem * 2 >= longer)) continue;
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function sharedPrefix(a: string, b: string): number {
  let n = 0;
  while (n < a.length && a[n] === b[n]) n++;
  return n;
}

/** Edits from `a` to `b` (Levenshtein, a swap of two neighbours counting as one edit: `modle` is 1 from `model`). */
function editDistance(a: string, b: string): number {
  // d[i][j]: edits from the first i characters of `a` to the first j of `b`.
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let edits = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        edits = Math.min(edits, at(i - 2, j - 2) + 1);
      d[i]![j] = edits;
    }
  }
  return at(a.length, b.length);
}

function positiveNumber(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    fail(option, 'a positive finite number', value);
  return value;
}

function nonNegativeNumber(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(option, 'a finite number >= 0', value);
  return value;
}

function nonNegativeInteger(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) fail(option, 'an integer >= 0', value);
  return value;
}

function positiveInteger(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) fail(option, 'a positive integer', value);
  return value;
}

function percentage(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0 && value <= 100)) fail(option, 'a number from 0 to 100', value);
  return value;
}

function bool(option: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(option, 'true or false', value);
  return value;
}

function normalizeDeadline(
  prefix: string,
  value: DeadlineOptions | undefined,
  base: Required<DeadlineOptions>,
): Required<DeadlineOptions> {
  const maxMs = positiveNumber(`${prefix}.maxMs`, value?.maxMs, base.maxMs);
  // An inherited default never exceeds a maximum set here; only an explicit one is an error.
  const defaultMs = positiveNumber(`${prefix}.defaultMs`, value?.defaultMs, Math.min(base.defaultMs, maxMs));
  if (defaultMs > maxMs) fail(`${prefix}.defaultMs`, `at most deadline.maxMs (${maxMs})`, defaultMs);
  const headers = value?.headers ?? base.headers;
  if (!Array.isArray(headers) || headers.some((h) => typeof h !== 'string' || h === '')) {
    fail(`${prefix}.headers`, 'an array of header names', headers);
  }
  return Object.freeze({
    defaultMs,
    maxMs,
    headers: Object.freeze((headers as readonly string[]).map((h) => h.toLowerCase())),
    reserveMs: nonNegativeNumber(`${prefix}.reserveMs`, value?.reserveMs, base.reserveMs),
  });
}

function normalizeRetry(prefix: string, value: RetryOptions | undefined, base: NormalizedRetry): NormalizedRetry {
  const baseDelayMs = positiveNumber(`${prefix}.baseDelayMs`, value?.baseDelayMs, base.baseDelayMs);
  const maxDelayMs = positiveNumber(`${prefix}.maxDelayMs`, value?.maxDelayMs, base.maxDelayMs);
  if (maxDelayMs < baseDelayMs) fail(`${prefix}.maxDelayMs`, `at least retry.baseDelayMs (${baseDelayMs})`, maxDelayMs);
  const attemptTimeoutMs =
    value && 'attemptTimeoutMs' in value
      ? value.attemptTimeoutMs === undefined
        ? undefined
        : positiveNumber(`${prefix}.attemptTimeoutMs`, value.attemptTimeoutMs, 1)
      : base.attemptTimeoutMs;
  return Object.freeze({
    maxAttempts: positiveInteger(`${prefix}.maxAttempts`, value?.maxAttempts, base.maxAttempts),
    baseDelayMs,
    maxDelayMs,
    attemptTimeoutMs,
  });
}

function normalizeBreaker(
  prefix: string,
  value: BreakerOptions | undefined,
  base: Required<Omit<BreakerOptions, 'key'>>,
  deadlineDefaultMs: number,
): Required<Omit<BreakerOptions, 'key'>> {
  const rollingCountTimeout = positiveInteger(
    `${prefix}.rollingCountTimeout`,
    value?.rollingCountTimeout,
    base.rollingCountTimeout,
  );
  const rollingCountBuckets = positiveInteger(
    `${prefix}.rollingCountBuckets`,
    value?.rollingCountBuckets,
    base.rollingCountBuckets,
  );
  if (rollingCountTimeout % rollingCountBuckets !== 0) {
    fail(
      `${prefix}.rollingCountTimeout`,
      `a multiple of rollingCountBuckets (${rollingCountBuckets})`,
      rollingCountTimeout,
    );
  }
  return Object.freeze({
    errorThresholdPercentage: percentage(
      `${prefix}.errorThresholdPercentage`,
      value?.errorThresholdPercentage,
      base.errorThresholdPercentage,
    ),
    // A fractional threshold would make "calls in the window" mean nothing a count can reach exactly.
    volumeThreshold: nonNegativeInteger(`${prefix}.volumeThreshold`, value?.volumeThreshold, base.volumeThreshold),
    rollingCountTimeout,
    rollingCountBuckets,
    resetTimeout: positiveInteger(`${prefix}.resetTimeout`, value?.resetTimeout, base.resetTimeout),
    minTrialBudgetMs: minTrialBudget(`${prefix}.minTrialBudgetMs`, value?.minTrialBudgetMs, base, deadlineDefaultMs),
    countRateLimits: bool(`${prefix}.countRateLimits`, value?.countRateLimits, base.countRateLimits),
    enabled: bool(`${prefix}.enabled`, value?.enabled, base.enabled),
  });
}

// Above the route's own default deadline no request without a header could ever be the trial, and
// the breaker would stay half-open for good: half of it leaves room for time spent before the call.
function minTrialBudget(
  option: string,
  value: number | undefined,
  base: Required<Omit<BreakerOptions, 'key'>>,
  deadlineDefaultMs: number,
): number {
  const limit = deadlineDefaultMs / 2;
  // An inherited value is lowered to fit a shorter deadline set here; only an explicit one is an error.
  if (value === undefined) return Math.min(base.minTrialBudgetMs, limit);
  const ms = nonNegativeNumber(option, value, base.minTrialBudgetMs);
  if (ms > limit) fail(option, `at most half of deadline.defaultMs (${limit})`, ms);
  return ms;
}

function normalizeStream(
  prefix: string,
  value: StreamOptions | undefined,
  base: NormalizedStream,
  site: Site,
): NormalizedStream {
  return Object.freeze({
    firstEventTimeoutMs: positiveNumber(
      `${prefix}.firstEventTimeoutMs`,
      value?.firstEventTimeoutMs,
      base.firstEventTimeoutMs,
    ),
    idleTimeoutMs: positiveNumber(`${prefix}.idleTimeoutMs`, value?.idleTimeoutMs, base.idleTimeoutMs),
    heartbeatMs: positiveNumber(`${prefix}.heartbeatMs`, value?.heartbeatMs, base.heartbeatMs),
    maxEventBytes: positiveInteger(`${prefix}.maxEventBytes`, value?.maxEventBytes, base.maxEventBytes),
    hedge: value && 'hedge' in value ? normalizeHedge(`${prefix}.hedge`, value.hedge, site) : base.hedge,
  });
}

function normalizeHedge(option: string, value: HedgeOptions | false | undefined, site: Site): NormalizedHedge | false {
  if (value === undefined || value === false) return false;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(option, "false or an object like { delay: 'p95' }", value);
  }
  checkKeys(option, value, HEDGE_KEYS, site);
  const delay = value.delay;
  if (delay !== 'p95' && !(typeof delay === 'number' && Number.isFinite(delay) && delay >= 0)) {
    fail(`${option}.delay`, "a number of milliseconds >= 0 or 'p95'", delay);
  }
  return Object.freeze({
    delay,
    initialDelayMs: nonNegativeNumber(`${option}.initialDelayMs`, value.initialDelayMs, HEDGE_DEFAULTS.initialDelayMs),
    minSamples: positiveInteger(`${option}.minSamples`, value.minSamples, HEDGE_DEFAULTS.minSamples),
    maxHedges: nonNegativeInteger(`${option}.maxHedges`, value.maxHedges, HEDGE_DEFAULTS.maxHedges),
  });
}

function normalizeFallbackTargets(
  route: string,
  fallback: RouteFallback | undefined,
  site: Site,
): readonly NormalizedFallbackTarget[] {
  if (fallback === undefined || typeof fallback === 'function') return [];
  const list: readonly unknown[] = Array.isArray(fallback) ? fallback : [fallback];
  if (list.length === 0) fail('fallback', 'a target, a non-empty list of targets or a function', fallback);
  const keys = new Set<string>();
  return Object.freeze(
    list.map((entry, index) => {
      const option = Array.isArray(fallback) ? `fallback[${index}]` : 'fallback';
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        fail(option, 'a function, { model } or { client, model }', entry);
      }
      checkKeys(option, entry, FALLBACK_TARGET_KEYS, site);
      const target = entry as FallbackTarget;
      // It is named in the `x-claude-guard-fallback` response header: printable ASCII without spaces.
      if (typeof target.model !== 'string' || !/^[\x21-\x7e]+$/.test(target.model)) {
        fail(`${option}.model`, 'a model name (printable ASCII, no spaces)', target.model);
      }
      const client = target.client as Partial<FallbackClient> | undefined;
      if (client !== undefined && typeof client?.messages?.create !== 'function') {
        fail(
          `${option}.client`,
          'an Anthropic client (new Anthropic(), AnthropicBedrock, AnthropicVertex)',
          typeof client,
        );
      }
      const breakerKey = target.breakerKey ?? `${route}:fallback:${target.model}`;
      if (typeof breakerKey !== 'string' || breakerKey === '')
        fail(`${option}.breakerKey`, 'a non-empty string', breakerKey);
      // Two targets on one key would share one breaker's verdicts: one failing would refuse the other.
      if (keys.has(breakerKey))
        fail(`${option}.breakerKey`, `a key no other target of route '${route}' has`, breakerKey);
      keys.add(breakerKey);
      return Object.freeze({
        model: target.model,
        client: target.client,
        maxAttempts: positiveInteger(`${option}.maxAttempts`, target.maxAttempts, DEFAULTS.fallbackTarget.maxAttempts),
        breakerKey,
      });
    }),
  );
}

function normalizeProxy(prefix: string, value: ProxyOptions | undefined, base: NormalizedProxy): NormalizedProxy {
  let allowedModels = base.allowedModels;
  if (value && 'allowedModels' in value) {
    const models = value.allowedModels;
    if (models !== undefined && (!Array.isArray(models) || models.some((m) => typeof m !== 'string'))) {
      fail(`${prefix}.allowedModels`, 'an array of model names', models);
    }
    allowedModels = models === undefined ? undefined : new Set(models);
  }
  const maxTokensCap =
    value && 'maxTokensCap' in value
      ? value.maxTokensCap === undefined
        ? undefined
        : positiveInteger(`${prefix}.maxTokensCap`, value.maxTokensCap, 1)
      : base.maxTokensCap;
  return Object.freeze({
    maxBodyBytes: positiveInteger(`${prefix}.maxBodyBytes`, value?.maxBodyBytes, base.maxBodyBytes),
    allowedModels,
    maxTokensCap,
    forwardUpstreamClientErrors: bool(
      `${prefix}.forwardUpstreamClientErrors`,
      value?.forwardUpstreamClientErrors,
      base.forwardUpstreamClientErrors,
    ),
  });
}

function normalizeConcurrency(
  prefix: string,
  value: ConcurrencyOptions | undefined,
  base: NormalizedConcurrency,
): NormalizedConcurrency {
  // `undefined` given explicitly lifts an inherited limit, as `retry.attemptTimeoutMs` does.
  const maxConcurrency =
    value && 'maxConcurrency' in value
      ? value.maxConcurrency === undefined
        ? undefined
        : positiveInteger(`${prefix}.maxConcurrency`, value.maxConcurrency, 1)
      : base.maxConcurrency;
  const maxQueue =
    value && 'maxQueue' in value
      ? value.maxQueue === undefined
        ? undefined
        : nonNegativeInteger(`${prefix}.maxQueue`, value.maxQueue, 0)
      : base.maxQueue;
  const lane = value?.lane ?? base.lane;
  if (lane !== 'interactive' && lane !== 'batch') fail(`${prefix}.lane`, "'interactive' or 'batch'", lane);
  return Object.freeze({
    maxConcurrency,
    maxQueue,
    lane,
    batchMaxWaitMs: nonNegativeNumber(`${prefix}.batchMaxWaitMs`, value?.batchMaxWaitMs, base.batchMaxWaitMs),
    queueFullRetryAfterMs: positiveNumber(
      `${prefix}.queueFullRetryAfterMs`,
      value?.queueFullRetryAfterMs,
      base.queueFullRetryAfterMs,
    ),
  });
}

function normalizeRateLimits(value: RateLimitOptions | undefined, site: Site): NormalizedRateLimits {
  const base = DEFAULTS.rateLimits;
  const reserve: unknown = value?.reserve;
  if (reserve !== undefined) {
    checkGroup('rateLimits.reserve', reserve, RESERVE_KEYS, site);
  }
  const given = (reserve ?? {}) as RateLimitReserve;
  return Object.freeze({
    enabled: bool('rateLimits.enabled', value?.enabled, base.enabled),
    reserve: Object.freeze({
      requests: nonNegativeInteger('rateLimits.reserve.requests', given.requests, base.reserve.requests),
      inputTokens: nonNegativeInteger('rateLimits.reserve.inputTokens', given.inputTokens, base.reserve.inputTokens),
      outputTokens: nonNegativeInteger(
        'rateLimits.reserve.outputTokens',
        given.outputTokens,
        base.reserve.outputTokens,
      ),
      tokens: nonNegativeInteger('rateLimits.reserve.tokens', given.tokens, base.reserve.tokens),
    }),
    spendLimitHoldMs: nonNegativeNumber('rateLimits.spendLimitHoldMs', value?.spendLimitHoldMs, base.spendLimitHoldMs),
    maxClients: positiveInteger('rateLimits.maxClients', value?.maxClients, base.maxClients),
  });
}

function normalizeFleet(value: FleetOptions | undefined): Readonly<Required<FleetOptions>> {
  const base = DEFAULTS.fleet;
  const syncIntervalMs = positiveNumber('fleet.syncIntervalMs', value?.syncIntervalMs, base.syncIntervalMs);
  // Faster than 250 ms loads the store for little; slower than 1 s breaks the promise of bounded staleness.
  if (syncIntervalMs < 250 || syncIntervalMs > 1_000)
    fail('fleet.syncIntervalMs', 'between 250 and 1000', syncIntervalMs);
  return Object.freeze({
    syncIntervalMs,
    commandTimeoutMs: positiveNumber('fleet.commandTimeoutMs', value?.commandTimeoutMs, base.commandTimeoutMs),
    trialLeaseMs: positiveNumber('fleet.trialLeaseMs', value?.trialLeaseMs, base.trialLeaseMs),
  });
}

/** @internal Applies defaults and validates, once per guard. */
export function normalizeGuardOptions(options: ClaudeGuardOptions): GuardConfig {
  if (!options || typeof options !== 'object') fail('options', 'an object', options);
  const site: Site = { kind: 'guard' };
  checkKeys('', options, GUARD_KEYS, site);
  checkGroup('deadline', options.deadline, DEADLINE_KEYS, site);
  checkGroup('retry', options.retry, RETRY_KEYS, site);
  const retryBudget: unknown = options.retryBudget;
  if (retryBudget !== undefined && retryBudget !== false) {
    if (typeof retryBudget !== 'object' || retryBudget === null) fail('retryBudget', 'an object or false', retryBudget);
    checkKeys('retryBudget', retryBudget, RETRY_BUDGET_KEYS, site);
  }
  checkGroup('breaker', options.breaker, GUARD_BREAKER_KEYS, site);
  checkGroup('stream', options.stream, STREAM_KEYS, site);
  checkGroup('proxy', options.proxy, PROXY_KEYS, site);
  checkGroup('concurrency', options.concurrency, CONCURRENCY_KEYS, site);
  checkGroup('rateLimits', options.rateLimits, RATE_LIMIT_KEYS, site);
  checkGroup('fleet', options.fleet, FLEET_KEYS, site);
  const client = options.client as Partial<ClaudeClient> | undefined;
  if (!client || typeof client.messages?.create !== 'function') {
    fail('client', 'an Anthropic client (new Anthropic())', typeof client);
  }
  const requestIdHeader = options.requestIdHeader ?? DEFAULTS.requestIdHeader;
  if (typeof requestIdHeader !== 'string' || !/^[A-Za-z0-9-]+$/.test(requestIdHeader)) {
    fail('requestIdHeader', 'a header name', requestIdHeader);
  }
  if (options.random !== undefined && typeof options.random !== 'function')
    fail('random', 'a function', options.random);
  const logger: unknown = options.logger;
  if (
    logger !== undefined &&
    (typeof logger !== 'object' || logger === null || typeof (logger as GuardLogger).info !== 'function')
  ) {
    fail('logger', 'a logger with info() (pino, console)', typeof logger);
  }
  const instrumentation: unknown = options.instrumentation;
  if (
    instrumentation !== undefined &&
    (typeof instrumentation !== 'object' ||
      instrumentation === null ||
      typeof (instrumentation as Instrumentation).startRequest !== 'function')
  ) {
    fail(
      'instrumentation',
      'an Instrumentation with startRequest() (createOtelInstrumentation())',
      typeof instrumentation,
    );
  }
  const store: unknown = options.store;
  if (store !== undefined && !isSharedStore(store)) {
    fail(
      'store',
      'a SharedStore (createRedisStore() from @claude-guard/redis) with addCounters, getCounters, acquireLease, releaseLease, get and set',
      typeof store,
    );
  }
  const logFormat = options.logFormat ?? DEFAULTS.logFormat;
  if (logFormat !== 'auto' && logFormat !== 'object' && logFormat !== 'json') {
    fail('logFormat', "'auto', 'object' or 'json'", logFormat);
  }
  const deadline = normalizeDeadline('deadline', options.deadline, { ...DEFAULTS.deadline });
  return Object.freeze({
    client: options.client,
    deadline,
    retry: normalizeRetry('retry', options.retry, DEFAULTS.retry),
    retryBudget: options.retryBudget === false ? false : { ...DEFAULTS.retryBudget, ...options.retryBudget },
    breaker: normalizeBreaker('breaker', options.breaker, DEFAULTS.breaker, deadline.defaultMs),
    stream: normalizeStream('stream', options.stream, DEFAULTS.stream, site),
    proxy: normalizeProxy('proxy', options.proxy, DEFAULTS.proxy),
    concurrency: normalizeConcurrency('concurrency', options.concurrency, DEFAULTS.concurrency),
    rateLimits: normalizeRateLimits(options.rateLimits, site),
    forwardUpstreamClientErrors: bool(
      'forwardUpstreamClientErrors',
      options.forwardUpstreamClientErrors,
      DEFAULTS.forwardUpstreamClientErrors,
    ),
    logger: options.logger,
    logFormat,
    onEvent: options.onEvent,
    instrumentation: options.instrumentation,
    store: options.store ?? createMemoryStore({ clock: options.clock ?? systemClock }),
    storeShared: options.store !== undefined,
    fleet: normalizeFleet(options.fleet),
    requestIdHeader: requestIdHeader.toLowerCase(),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
  });
}

/** @internal Applies the guard's values under a route's overrides, once per mounted route. */
export function normalizeRouteOptions(guard: GuardConfig, options: RouteOptions): RouteConfig {
  if (!options || typeof options !== 'object') fail('options', "an object like { route: 'chat' }", options);
  const site: Site = { kind: 'route', name: typeof options.route === 'string' ? options.route : undefined };
  checkKeys('', options, ROUTE_KEYS, site);
  checkGroup('deadline', options.deadline, DEADLINE_KEYS, site);
  checkGroup('retry', options.retry, RETRY_KEYS, site);
  checkGroup('breaker', options.breaker, ROUTE_BREAKER_KEYS, site);
  checkGroup('stream', options.stream, STREAM_KEYS, site);
  checkGroup('proxy', options.proxy, PROXY_KEYS, site);
  checkGroup('concurrency', options.concurrency, CONCURRENCY_KEYS, site);
  if (typeof options.route !== 'string' || !/^[A-Za-z0-9._:/-]{1,100}$/.test(options.route)) {
    fail('route', 'a name of 1-100 characters [A-Za-z0-9._:/-]', options?.route);
  }
  const key = options.breaker?.key ?? options.route;
  if (typeof key !== 'string' || key === '') fail('breaker.key', 'a non-empty string', key);
  const fallbackTargets = normalizeFallbackTargets(options.route, options.fallback, site);
  const deadline = normalizeDeadline('deadline', options.deadline, guard.deadline);
  return Object.freeze({
    route: options.route,
    deadline,
    retry: normalizeRetry('retry', options.retry, guard.retry),
    breaker: Object.freeze({ key, ...normalizeBreaker('breaker', options.breaker, guard.breaker, deadline.defaultMs) }),
    stream: normalizeStream('stream', options.stream, guard.stream, site),
    proxy: normalizeProxy('proxy', options.proxy, guard.proxy),
    concurrency: normalizeConcurrency('concurrency', options.concurrency, guard.concurrency),
    forwardUpstreamClientErrors: bool(
      'forwardUpstreamClientErrors',
      options.forwardUpstreamClientErrors,
      guard.forwardUpstreamClientErrors,
    ),
    fallback: options.fallback,
    fallbackTargets,
  });
}

interface Mounted {
  readonly options: RouteOptions;
  readonly byRun: boolean;
}

/**
 * @internal A guard's routes by name and by breaker key, so that conflicting ones are refused
 * when they are mounted instead of the first one silently winning: a second route of the same
 * name (unless it is the same options object, one handler on two paths), and routes sharing a
 * breaker key with different breaker options (the shared breaker can have only one set).
 */
export class MountedRoutes {
  readonly #byName = new Map<string, Mounted>();
  /** The first route that took each breaker key; every later one must match its options. */
  readonly #byBreakerKey = new Map<string, { config: RouteConfig; byRun: boolean }>();

  /**
   * Records a route or throws a TypeError naming the conflict. A route that `guard.run(name)`
   * created for a name nobody mounted (`byRun`) checks nothing: it takes the guard's defaults and
   * shares an existing breaker of its key as it is, so `guard.run` never throws for a conflict.
   */
  add(options: RouteOptions, config: RouteConfig, byRun = false): void {
    const previous = this.#byName.get(config.route);
    if (!byRun && previous && previous.options !== options) {
      throw new TypeError(
        previous.byRun
          ? `claude-guard: route '${config.route}' is mounted after guard.run('${config.route}') created it with the ` +
              `guard's defaults; mount it before the first guard.run('${config.route}'), or give it another name`
          : `claude-guard: route '${config.route}' is mounted twice with different options objects; give each ` +
              `route its own name, or pass the same options object to share one route (one handler on two paths)`,
      );
    }
    const breaker = config.breaker;
    const first = breaker.enabled ? this.#byBreakerKey.get(breaker.key) : undefined;
    if (first && !byRun) {
      const differences = breakerDifferences(first.config, config);
      if (differences.length > 0) {
        const createdBy = first.byRun ? ` (created with the guard's defaults by guard.run)` : '';
        throw new TypeError(
          `claude-guard: routes '${first.config.route}'${createdBy} and '${config.route}' share breaker key '${breaker.key}' with ` +
            `different breaker options: ${differences.join('; ')}. Routes sharing a breaker must give it the same ` +
            `options (one shared breaker object), or use different keys`,
        );
      }
    }
    if (!previous) this.#byName.set(config.route, { options, byRun });
    if (breaker.enabled && !first) this.#byBreakerKey.set(breaker.key, { config, byRun });
  }
}

function breakerDifferences(first: RouteConfig, second: RouteConfig): string[] {
  const differences: string[] = [];
  for (const option of Object.keys(GUARD_BREAKER_KEYS) as (keyof typeof GUARD_BREAKER_KEYS)[]) {
    const a = first.breaker[option];
    const b = second.breaker[option];
    if (a === b) continue;
    const inherited =
      option === 'minTrialBudgetMs' ? " (unless set, at most half of the route's deadline.defaultMs)" : '';
    differences.push(
      `\`breaker.${option}\` is ${String(a)} on '${first.route}' and ${String(b)} on '${second.route}'${inherited}`,
    );
  }
  return differences;
}

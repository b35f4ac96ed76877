import type { AdmissionRegistry, RouteAdmission, UpstreamAnswers } from './admission.js';
import { exponentialBackoff } from './backoff.js';
import type { BreakerRegistry } from './breaker-registry.js';
import type { ClaudeClient } from './claude-client.js';
import type { Clock } from './clock.js';
import type { GuardEvents } from './events.js';
import type { Instrumentation } from './instrumentation.js';
import type { GuardConfig, RouteConfig } from './options.js';
import type { LogWriter } from './logger.js';
import { FallbackChain } from './fallback-targets.js';
import { Hedger } from './hedge.js';
import type { RecordSink } from './request-record.js';
import type { RetryBudget } from './retry-budget.js';
import { RetryPolicy, type RetryPolicyOptions } from './retry-loop.js';

/** What every route of one guard shares. Built once per guard. */
export interface GuardRuntime {
  readonly config: GuardConfig;
  readonly events: GuardEvents;
  readonly breakers: BreakerRegistry;
  readonly budget: RetryBudget | undefined;
  readonly nextRequestId: () => string;
  readonly sdkVersion: string;
  /** Strings that must never reach a client or a log (the client's API key). */
  readonly secrets: readonly string[];
  /** The guard's logger, at each line's level and in its format; `undefined`: no logger. */
  readonly log: LogWriter | undefined;
  /** Concurrency limiters by breaker key, the client's rate-limit tracker. */
  readonly admission: AdmissionRegistry;
  /** `config.client`, or the copy of it that takes each attempt's signal in its fetch (see signal-lane.ts). */
  readonly client: ClaudeClient;
}

/**
 * What every request of one mounted route works with, built once when the route is mounted:
 * explicit collaborators, so that no request reaches into the guard.
 */
export interface RouteRuntime {
  readonly config: RouteConfig;
  readonly client: ClaudeClient;
  readonly clock: Clock;
  /** The header the correlation id is read from and echoed in. */
  readonly requestIdHeader: string;
  readonly nextRequestId: () => string;
  readonly secrets: readonly string[];
  /** Spans per request and attempt; `undefined`: none, and nothing is built for them. */
  readonly instrumentation: Instrumentation | undefined;
  /** Where the route's request records end: its name, clock, log writer and events. */
  readonly records: RecordSink;
  /** The retry policy of calls made by handlers: failures in our own words, an upstream 4xx message only if the route opts in. */
  readonly retry: RetryPolicy;
  /** The passthrough's retry policy: the same, but an upstream 4xx message (redacted) is passed on if the route allows it. */
  readonly passthroughRetry: RetryPolicy;
  /** Concurrency limit and rate-limit holds, before the retry policy; `undefined`: nothing to admit. */
  readonly admission: RouteAdmission | undefined;
  /**
   * Where every attempt of the route's own calls (not a fallback target's) reports its answer to the
   * rate-limit tracker; `undefined` when rate limits are off.
   */
  readonly answers: UpstreamAnswers | undefined;
  /** The route's fallback targets, each with its own breaker and attempt limit; `undefined`: none (or a function). */
  readonly fallbacks: FallbackChain | undefined;
  /** The route's hedges (`stream.hedge`), one per kind of call; `undefined`: no hedging. */
  readonly hedge: { readonly stream: Hedger; readonly message: Hedger } | undefined;
}

/**
 * Builds a route's runtime: its record sink, its breaker (shared by key) and its two retry policies.
 *
 * @example
 * ```ts
 * const runtime = createRouteRuntime(guardRuntime, normalizeRouteOptions(guardRuntime.config, options));
 * ```
 */
export function createRouteRuntime(guard: GuardRuntime, config: RouteConfig, byRun = false): RouteRuntime {
  const { clock, requestIdHeader } = guard.config;
  const client = guard.client;
  const breaker = config.breaker.enabled
    ? guard.breakers.get(config.breaker.key, config.route, config.breaker)
    : undefined;
  const policy: RetryPolicyOptions = {
    route: config.route,
    maxAttempts: config.retry.maxAttempts,
    backoff: exponentialBackoff({
      baseMs: config.retry.baseDelayMs,
      capMs: config.retry.maxDelayMs,
      random: guard.config.random,
    }),
    budget: guard.budget,
    breaker,
    events: guard.events,
    clock,
    attemptTimeoutMs: config.retry.attemptTimeoutMs,
    countRateLimits: breaker?.options.countRateLimits ?? false,
    secrets: guard.secrets,
    forwardClientErrors: config.forwardUpstreamClientErrors,
  };
  return {
    config,
    client,
    clock,
    requestIdHeader,
    nextRequestId: guard.nextRequestId,
    secrets: guard.secrets,
    instrumentation: guard.config.instrumentation,
    records: {
      route: config.route,
      sdkVersion: guard.sdkVersion,
      now: () => clock.now(),
      log: guard.log,
      events: guard.events,
      secrets: guard.secrets,
    },
    retry: new RetryPolicy(policy),
    passthroughRetry: new RetryPolicy({ ...policy, forwardClientErrors: config.proxy.forwardUpstreamClientErrors }),
    admission: guard.admission.forRoute(config.route, config.breaker.key, config.concurrency, byRun),
    answers: guard.admission.answers,
    fallbacks: fallbackChain(guard, config, policy),
    hedge: hedgers(guard, config, policy),
  };
}

/** Each target's own policy: its attempt limit, its own breaker (the route's breaker options), the shared budget. */
function fallbackChain(
  guard: GuardRuntime,
  config: RouteConfig,
  policy: RetryPolicyOptions,
): FallbackChain | undefined {
  if (config.fallbackTargets.length === 0) return undefined;
  const targets = config.fallbackTargets.map((target) => {
    const breaker = config.breaker.enabled
      ? guard.breakers.get(target.breakerKey, config.route, config.breaker)
      : undefined;
    // The guard calls only `messages.create`, which every FallbackClient has (Bedrock and Vertex lack `batches`).
    const client = (target.client ?? guard.config.client) as ClaudeClient;
    // A target's own key stays out of its events' upstream messages, as the guard's does.
    const key = (client as { apiKey?: unknown }).apiKey;
    const secrets = typeof key === 'string' && key.length > 0 ? [...guard.secrets, key] : guard.secrets;
    return {
      model: target.model,
      client,
      breakerKey: target.breakerKey,
      maxAttempts: target.maxAttempts,
      policy: new RetryPolicy({ ...policy, maxAttempts: target.maxAttempts, breaker, secrets }),
    };
  });
  return new FallbackChain(config.route, targets, guard.events);
}

function hedgers(guard: GuardRuntime, config: RouteConfig, policy: RetryPolicyOptions): RouteRuntime['hedge'] {
  const options = config.stream.hedge;
  if (options === false) return undefined;
  const shared = {
    route: config.route,
    options,
    clock: policy.clock,
    budget: guard.budget,
    breaker: policy.breaker,
    events: guard.events,
    countRateLimits: policy.countRateLimits,
    secrets: guard.secrets,
  };
  // Apart: a stream's first event and a whole message's headers come at very different times.
  return { stream: new Hedger({ ...shared, stream: true }), message: new Hedger({ ...shared, stream: false }) };
}

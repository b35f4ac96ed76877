import type { AdmissionRegistry, RouteAdmission } from './admission.js';
import { exponentialBackoff } from './backoff.js';
import type { BreakerRegistry } from './breaker-registry.js';
import type { ClaudeClient } from './claude-client.js';
import type { Clock } from './clock.js';
import type { GuardEvents } from './events.js';
import type { Instrumentation } from './instrumentation.js';
import type { GuardConfig, RouteConfig } from './options.js';
import type { LogWriter } from './logger.js';
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
  /** `config.client`, its answers read by the rate-limit tracker (itself when rate limits are off). */
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
  };
}

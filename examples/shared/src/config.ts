import Anthropic from '@anthropic-ai/sdk';
import type { ClaudeGuardOptions, RouteOptions } from '@claude-guard/core';

/** Everything the example apps read from the environment, validated once. */
export interface ExampleConfig {
  port: number;
  host: string;
  model: string;
  guard: Omit<ClaudeGuardOptions, 'client'>;
  /** Options of both Claude routes (the passthrough and `/chat`): the fallback and the hedge. */
  routes: Omit<RouteOptions, 'route'>;
}

function intFromEnv(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return value;
}

/**
 * `CLAUDE_GUARD_FLEET_COMMAND_TIMEOUT_MS`: how long one Redis command may take (the store's
 * `commandTimeoutMs` and the guard's `fleet.commandTimeoutMs`); unset: their default, 50 ms.
 *
 * @example
 * ```ts
 * const store = createRedisStore({ client, commandTimeoutMs: fleetCommandTimeoutFromEnv(process.env) });
 * ```
 */
export function fleetCommandTimeoutFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const ms = intFromEnv(env, 'CLAUDE_GUARD_FLEET_COMMAND_TIMEOUT_MS');
  if (ms === 0) throw new Error("CLAUDE_GUARD_FLEET_COMMAND_TIMEOUT_MS must be a positive integer, got '0'");
  return ms;
}

/**
 * The routes' fallback and hedge: `CLAUDE_GUARD_FALLBACK_BASE_URL` makes one fallback client (its key:
 * `CLAUDE_GUARD_FALLBACK_API_KEY`, else `ANTHROPIC_API_KEY`, else a placeholder a local fake accepts),
 * asked for `CLAUDE_GUARD_FALLBACK_MODEL` (default: the routes' model); the model alone falls back on
 * the same client. `CLAUDE_GUARD_HEDGE_MS` turns hedging on with that fixed delay.
 */
function routeOptions(env: NodeJS.ProcessEnv, model: string): Omit<RouteOptions, 'route'> {
  const baseURL = env['CLAUDE_GUARD_FALLBACK_BASE_URL'] || undefined;
  const fallbackModel = env['CLAUDE_GUARD_FALLBACK_MODEL'] || undefined;
  const hedgeMs = intFromEnv(env, 'CLAUDE_GUARD_HEDGE_MS');
  const routes: Omit<RouteOptions, 'route'> = {};
  if (baseURL !== undefined) {
    const apiKey = env['CLAUDE_GUARD_FALLBACK_API_KEY'] || env['ANTHROPIC_API_KEY'] || 'fallback-placeholder-key';
    // The guard owns retries on the fallback too: one attempt by default.
    routes.fallback = { client: new Anthropic({ apiKey, baseURL, maxRetries: 0 }), model: fallbackModel ?? model };
  } else if (fallbackModel !== undefined) {
    routes.fallback = { model: fallbackModel };
  }
  if (hedgeMs !== undefined) routes.stream = { hedge: { delay: hedgeMs } };
  return routes;
}

/**
 * Reads `PORT`, `HOST`, `CLAUDE_MODEL` and the `CLAUDE_GUARD_*` tuning variables (`CLAUDE_GUARD_MAX_CONCURRENCY`
 * and `CLAUDE_GUARD_MAX_QUEUE` set the concurrency limit and queue of the passthrough, `/chat` and `/chat-direct`).
 *
 * @example
 * ```ts
 * const config = readExampleConfig(process.env);
 * ```
 */
export function readExampleConfig(env: NodeJS.ProcessEnv): ExampleConfig {
  const deadlineMs = intFromEnv(env, 'CLAUDE_GUARD_DEADLINE_MS');
  const maxAttempts = intFromEnv(env, 'CLAUDE_GUARD_MAX_ATTEMPTS');
  const volumeThreshold = intFromEnv(env, 'CLAUDE_GUARD_BREAKER_VOLUME');
  const errorThresholdPercentage = intFromEnv(env, 'CLAUDE_GUARD_BREAKER_ERROR_PERCENT');
  const resetTimeout = intFromEnv(env, 'CLAUDE_GUARD_BREAKER_RESET_MS');
  const rollingCountTimeout = intFromEnv(env, 'CLAUDE_GUARD_BREAKER_WINDOW_MS');
  const firstEventTimeoutMs = intFromEnv(env, 'CLAUDE_GUARD_STREAM_FIRST_EVENT_MS');
  const idleTimeoutMs = intFromEnv(env, 'CLAUDE_GUARD_STREAM_IDLE_MS');
  const heartbeatMs = intFromEnv(env, 'CLAUDE_GUARD_HEARTBEAT_MS');
  // Fleet mode's sync interval (250 to 1000 ms); read only when CLAUDE_GUARD_REDIS_URL gives a store.
  const fleetSyncMs = intFromEnv(env, 'CLAUDE_GUARD_FLEET_SYNC_MS');
  // How long one store command may take before the guard goes on with local state (default 50 ms).
  const fleetCommandTimeoutMs = fleetCommandTimeoutFromEnv(env);
  // Admission control of the passthrough and /chat (each route its own limiter): unset, no limit.
  const maxConcurrency = intFromEnv(env, 'CLAUDE_GUARD_MAX_CONCURRENCY');
  const maxQueue = intFromEnv(env, 'CLAUDE_GUARD_MAX_QUEUE');
  if (maxConcurrency === 0) throw new Error("CLAUDE_GUARD_MAX_CONCURRENCY must be a positive integer, got '0'");
  const guard: Omit<ClaudeGuardOptions, 'client'> = {
    deadline: deadlineMs === undefined ? {} : { defaultMs: deadlineMs, maxMs: Math.max(deadlineMs, 300_000) },
    retry: maxAttempts === undefined ? {} : { maxAttempts },
    breaker: {
      ...(volumeThreshold === undefined ? {} : { volumeThreshold }),
      ...(errorThresholdPercentage === undefined ? {} : { errorThresholdPercentage }),
      ...(resetTimeout === undefined ? {} : { resetTimeout }),
      ...(rollingCountTimeout === undefined ? {} : { rollingCountTimeout }),
    },
    stream: {
      ...(firstEventTimeoutMs === undefined ? {} : { firstEventTimeoutMs }),
      ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
      ...(heartbeatMs === undefined ? {} : { heartbeatMs }),
    },
    concurrency: {
      ...(maxConcurrency === undefined ? {} : { maxConcurrency }),
      ...(maxQueue === undefined ? {} : { maxQueue }),
    },
    fleet: {
      ...(fleetSyncMs === undefined ? {} : { syncIntervalMs: fleetSyncMs }),
      ...(fleetCommandTimeoutMs === undefined ? {} : { commandTimeoutMs: fleetCommandTimeoutMs }),
    },
    // On by default (the guard's default), said here because the example contract relies on it.
    rateLimits: { enabled: true },
  };
  const model = env['CLAUDE_MODEL'] || 'claude-sonnet-5';
  return {
    port: intFromEnv(env, 'PORT') ?? 3000,
    host: env['HOST'] || '127.0.0.1',
    model,
    guard,
    routes: routeOptions(env, model),
  };
}

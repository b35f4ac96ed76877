import type { SharedStore } from '@claude-guard/core';
import { fleetCommandTimeoutFromEnv } from './config.js';

/** Fleet mode of an example: the store for `createClaudeGuard`, and how to let go of its Redis connection. */
export interface ExampleFleet {
  store: SharedStore;
  close(): void;
}

/**
 * Fleet mode when `CLAUDE_GUARD_REDIS_URL` is set: an ioredis client on it (no offline queue, no
 * per-command retries: a command Redis cannot take now fails now, and the guard uses local state)
 * and a store under `CLAUDE_GUARD_REDIS_PREFIX` (default `claude-guard-example`), its commands bounded by
 * `CLAUDE_GUARD_FLEET_COMMAND_TIMEOUT_MS` (default 50 ms). Unset: `undefined`,
 * and ioredis is never loaded (the Hono example also runs where it cannot be).
 *
 * @example
 * ```ts
 * const fleet = await startExampleFleet(process.env);
 * const guard = createClaudeGuard({ client, ...(fleet ? { store: fleet.store } : {}) });
 * ```
 */
export async function startExampleFleet(env: NodeJS.ProcessEnv): Promise<ExampleFleet | undefined> {
  const url = env['CLAUDE_GUARD_REDIS_URL'];
  if (!url) return undefined;
  const [{ Redis }, { createRedisStore }] = await Promise.all([import('ioredis'), import('@claude-guard/redis')]);
  const client = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
  // Connection errors are the guard's to report (store-degraded, /guard/status): never a crash.
  client.on('error', () => undefined);
  // Started, not awaited: an unreachable Redis must not keep the example from serving.
  client.connect().catch(() => undefined);
  const commandTimeoutMs = fleetCommandTimeoutFromEnv(env);
  const store = createRedisStore({
    client,
    prefix: env['CLAUDE_GUARD_REDIS_PREFIX'] || 'claude-guard-example',
    ...(commandTimeoutMs === undefined ? {} : { commandTimeoutMs }),
  });
  return { store, close: () => client.disconnect() };
}

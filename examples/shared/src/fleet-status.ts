import type { ClaudeGuard } from '@claude-guard/core';

// Apart from fleet.ts: the Hono example's Worker serves /guard/status too, and must never load ioredis.
/**
 * What `/guard/status` adds in fleet mode: whether the store is connected, and per breaker its
 * local counts next to the fleet's (summed over every replica at the last sync; `null` while the
 * store is away). Nothing without a store.
 *
 * @example
 * ```ts
 * res.json({ ...guard.publicStatus(), ...fleetStatus(guard) });
 * ```
 */
export function fleetStatus(guard: ClaudeGuard): Record<string, unknown> {
  const status = guard.status();
  if (!status.store.shared) return {};
  return {
    store: { connected: status.store.connected },
    fleet: status.breakers.map((breaker) => ({
      key: breaker.key,
      state: breaker.state,
      local: { fires: breaker.counts.fires, failures: breaker.counts.failures, successes: breaker.counts.successes },
      fleet: breaker.fleetCounts
        ? {
            fires: breaker.fleetCounts.fires,
            failures: breaker.fleetCounts.failures,
            successes: breaker.fleetCounts.successes,
          }
        : null,
    })),
  };
}

import type { Backoff } from './backoff.js';
import type { BreakerRegistry, RouteBreaker } from './breaker-registry.js';
import type { GuardEvents } from './events.js';
import type { GuardConfig, RouteConfig } from './options.js';
import type { RetryBudget } from './retry-budget.js';

/** @internal What every request of a guard shares. Built once per guard. */
export interface GuardRuntime {
  readonly config: GuardConfig;
  readonly events: GuardEvents;
  readonly breakers: BreakerRegistry;
  readonly budget: RetryBudget | undefined;
  readonly nextRequestId: () => string;
  readonly sdkVersion: string;
  /** Strings that must never reach a client or a log (the client's API key). */
  readonly secrets: readonly string[];
}

/** @internal What every request of one mounted route shares. Built once per route. */
export interface RouteRuntime {
  readonly guard: GuardRuntime;
  readonly config: RouteConfig;
  readonly breaker: RouteBreaker | undefined;
  readonly backoff: Backoff;
}

import type { ClaudeGuard, GuardEvent } from '@claude-guard/core';

/**
 * What telemetry needs of a guard: its events and its breakers' status.
 *
 * @example
 * ```ts
 * const observed: ObservableGuard = createClaudeGuard({ client });
 * ```
 */
export type ObservableGuard = Pick<ClaudeGuard, 'on' | 'status'>;

/**
 * The guards one set of metrics listens to: each subscribed once, each unsubscribed by its own
 * disposer or all at once.
 *
 * @example
 * ```ts
 * const observed = new ObservedGuards((event) => interpreter.handle(event));
 * const stop = observed.observe(guard);
 * for (const guard of observed.guards()) guard.status();
 * ```
 */
export class ObservedGuards {
  readonly #listener: (event: GuardEvent) => void;
  readonly #stops = new Map<ObservableGuard, () => void>();

  constructor(listener: (event: GuardEvent) => void) {
    this.#listener = listener;
  }

  /** Subscribes to `guard` (once); returns the function that unsubscribes it. */
  observe(guard: ObservableGuard): () => void {
    const existing = this.#stops.get(guard);
    if (existing) return existing;
    const off = guard.on(this.#listener);
    const stop = () => {
      off();
      this.#stops.delete(guard);
    };
    this.#stops.set(guard, stop);
    return stop;
  }

  /** Subscribes to each of `guards` (one guard or a list; none when `undefined`). */
  observeAll(guards: ObservableGuard | readonly ObservableGuard[] | undefined): void {
    if (guards === undefined) return;
    for (const guard of isList(guards) ? guards : [guards]) this.observe(guard);
  }

  guards(): IterableIterator<ObservableGuard> {
    return this.#stops.keys();
  }

  close(): void {
    for (const stop of [...this.#stops.values()]) stop();
  }
}

function isList(value: ObservableGuard | readonly ObservableGuard[]): value is readonly ObservableGuard[] {
  return Array.isArray(value);
}

/**
 * Whether the guards' shared stores answer: 0 when any guard in fleet mode runs on local state (its
 * store away), else 1. As `guard.status().store.connected`, a guard without a store counts as
 * connected: it has nothing to lose, and an alert on 0 fires only for a real outage.
 *
 * @example
 * ```ts
 * const connected = storeConnected(observed.guards()); // 1 or 0
 * ```
 */
export function storeConnected(guards: Iterable<ObservableGuard>): 0 | 1 {
  for (const guard of guards) {
    // `store` is absent from an older core's status.
    const store = (guard.status() as { store?: { connected: boolean } }).store;
    if (store?.connected === false) return 0;
  }
  return 1;
}

import type { BreakerSnapshot, GuardEvent, GuardEventListener } from '@claude-guard/core';
import type { ObservableGuard } from '../observed-guards.js';

/**
 * A guard stand-in for unit tests: it emits the events a test scripts and reports the breakers the
 * test sets, so telemetry is tested without the core's request path.
 */
export function scriptedGuard() {
  const listeners = new Set<GuardEventListener>();
  const breakers: Pick<BreakerSnapshot, 'key' | 'state'>[] = [];
  /** The store section of its status: a test sets fleet mode and the connection on it. */
  const store = { shared: false, connected: true };
  const guard: ObservableGuard = {
    on: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    status: () => ({
      breakers: breakers as BreakerSnapshot[],
      admission: { queues: [], clients: [] },
      store: { ...store },
    }),
  };
  const emit = (event: Record<string, unknown>) => {
    for (const listener of listeners) listener(event as GuardEvent);
  };
  return { guard, breakers, store, emit, listeners };
}

/** A `request-end` event of route `chat`, 200 ok, with `fields` over it. */
export function requestEnd(requestId: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'request-end',
    route: 'chat',
    requestId,
    upstreamRequestId: undefined,
    status: 200,
    outcome: 'ok',
    attempts: 1,
    durationMs: 1200,
    model: 'claude-sonnet-5',
    stream: false,
    outputTokens: 6,
    sdkVersion: '1.14.0',
    ...fields,
  };
}

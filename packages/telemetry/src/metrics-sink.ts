import type { BreakerState } from '@claude-guard/core';

/**
 * Token counts of one request by type, as Anthropic reports them: `input` excludes the cached
 * tokens, which are counted as `cacheRead` and `cacheWrite`; `undefined` when never reported.
 *
 * @example
 * ```ts
 * const tokens: TokenCounts = { input: 11, output: 6, cacheRead: 0, cacheWrite: undefined };
 * ```
 */
export interface TokenCounts {
  input: number | undefined;
  output: number | undefined;
  cacheRead: number | undefined;
  cacheWrite: number | undefined;
}

/**
 * One finished request, its labels already bounded (see `ModelLabels`, `statusClass`).
 *
 * @example
 * ```ts
 * sink.requestEnded({ route: 'chat', model: 'claude-sonnet-5', outcome: 'ok', status: 200, statusClass: '2xx',
 *   durationSeconds: 0.8, stream: true, timeToFirstEventSeconds: 0.2, tokens, clientDisconnected: false,
 *   wasInFlight: true });
 * ```
 */
export interface RequestMeasurement {
  route: string;
  model: string;
  outcome: string;
  status: number;
  statusClass: string;
  durationSeconds: number;
  stream: boolean;
  /** From the request's start to the upstream's first event; streams only. */
  timeToFirstEventSeconds: number | undefined;
  tokens: TokenCounts;
  /** The client left before the answer was complete (status 499). */
  clientDisconnected: boolean;
  /** The request was counted in flight when it started (and leaves the gauge now). */
  wasInFlight: boolean;
}

/**
 * Where the guard's measurements go: the Prometheus registry, an OpenTelemetry meter. Every argument
 * is a bounded label value; the sink only counts.
 *
 * @example
 * ```ts
 * const sink: MetricsSink = { ...noopSink, retried: (route, reason) => console.log(route, reason) };
 * ```
 */
export interface MetricsSink {
  requestStarted(route: string): void;
  requestEnded(measurement: RequestMeasurement): void;
  /** A request left the in-flight gauge without an end (its state was evicted). */
  requestAbandoned(route: string): void;
  /** Upstream attempts a request made (a breaker's refusal is none), counted when it ends. */
  attemptsMade(route: string, attempts: number): void;
  retried(route: string, reason: string): void;
  retryBudgetRejected(route: string): void;
  breakerTransitioned(key: string, to: BreakerState): void;
  breakerRejected(route: string, key: string): void;
  streamStalled(route: string): void;
  deadlineExceeded(route: string, source: string): void;
  /** Admission control answered a request without calling Claude (`reason`: queue-full, rate-limit, ...). */
  admissionShed(route: string, reason: string): void;
  /** A queued request got its slot after `seconds` in the queue. */
  queueWaited(route: string, seconds: number): void;
  /**
   * A hedge (`stream.hedge`) started, won or lost; `savedSeconds`: a won hedge's estimated time saved,
   * when the route had seen longer first events. Optional, so that sinks written before hedging still fit.
   */
  hedged?(route: string, result: 'started' | 'won' | 'lost', savedSeconds: number | undefined): void;
  /** Fleet mode: the shared store went away (`store-degraded`); optional, as `hedged`. */
  storeDegraded?(): void;
}

/** Prometheus' and the metrics' numbering of a breaker's state: 0 closed, 1 open, 2 half-open. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, open: 1, 'half-open': 2 };

/**
 * `stream.hedge`: when an attempt's first upstream event (a non-streaming call's response headers)
 * has not arrived after a delay, start one more attempt in parallel; the first to answer wins and
 * the other is aborted at once. Each hedge is taken from the retry budget (no budget, no hedge) and
 * counted as an attempt.
 *
 * @example
 * ```ts
 * claudeProxy(guard, { route: 'proxy', stream: { hedge: { delay: 'p95' } } });
 * claudeGuard(guard, { route: 'chat', stream: { hedge: { delay: 800 } } });
 * ```
 */
export interface HedgeOptions {
  /** Milliseconds to wait for the first event, or `'p95'`: the route's observed 95th percentile time to first event. */
  delay: number | 'p95';
  /** With `'p95'`: the delay until {@link HedgeOptions.minSamples} first events have been observed. Default `1_000`. */
  initialDelayMs?: number;
  /** With `'p95'`: first events observed before the percentile is used. Default `20`. */
  minSamples?: number;
  /** Hedges per request. Default `1`. */
  maxHedges?: number;
}

/** @internal `HedgeOptions` with defaults applied. */
export interface NormalizedHedge {
  readonly delay: number | 'p95';
  readonly initialDelayMs: number;
  readonly minSamples: number;
  readonly maxHedges: number;
}

/** Defaults of {@link HedgeOptions} (the README's table is checked against them). */
export const HEDGE_DEFAULTS = { initialDelayMs: 1_000, minSamples: 20, maxHedges: 1 } as const;

const WINDOW_MS = 60_000;

// Tier-4-like limits: large enough that nothing the fake serves in a test ever runs out.
const LIMITS = { requests: 4000, 'input-tokens': 2_000_000, 'output-tokens': 400_000, tokens: 2_400_000 } as const;

type Family = keyof typeof LIMITS;

/**
 * Produces the `anthropic-ratelimit-*` headers for each response from usage counted per wall-clock minute.
 *
 * @example
 * ```ts
 * const rateLimits = createRateLimitHeaders();
 * for (const [name, value] of Object.entries(rateLimits(11, 12))) res.setHeader(name, value);
 * ```
 */
export type RateLimitHeaders = (inputTokens: number, outputTokens: number) => Record<string, string>;

/**
 * Creates the rate-limit header source. Reset times are RFC 3339 at the end of the current minute, so
 * they use the wall clock, not the fake's monotonic `now`.
 *
 * @param wallClock - milliseconds since the epoch; injectable for tests
 * @returns a function that records one response's usage and returns its headers
 * @example
 * ```ts
 * createRateLimitHeaders(() => Date.parse('2026-01-01T00:00:30Z'))(10, 5)['anthropic-ratelimit-requests-reset'];
 * // '2026-01-01T00:01:00Z'
 * ```
 */
export function createRateLimitHeaders(wallClock: () => number = Date.now): RateLimitHeaders {
  let window = -1;
  const used: Record<Family, number> = { requests: 0, 'input-tokens': 0, 'output-tokens': 0, tokens: 0 };
  return (inputTokens, outputTokens) => {
    const time = wallClock();
    const current = Math.floor(time / WINDOW_MS);
    if (current !== window) {
      window = current;
      for (const family of Object.keys(used) as Family[]) used[family] = 0;
    }
    used.requests += 1;
    used['input-tokens'] += inputTokens;
    used['output-tokens'] += outputTokens;
    used.tokens += inputTokens + outputTokens;
    const reset = new Date((current + 1) * WINDOW_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const headers: Record<string, string> = {};
    for (const family of Object.keys(LIMITS) as Family[]) {
      headers[`anthropic-ratelimit-${family}-limit`] = String(LIMITS[family]);
      headers[`anthropic-ratelimit-${family}-remaining`] = String(Math.max(0, LIMITS[family] - used[family]));
      headers[`anthropic-ratelimit-${family}-reset`] = reset;
    }
    return headers;
  };
}

/**
 * The four rate limits the API reports, in the order the fake checks them.
 *
 * @example
 * ```ts
 * const family: RateLimitFamily = 'input-tokens';
 * ```
 */
export type RateLimitFamily = 'requests' | 'input-tokens' | 'output-tokens' | 'tokens';

/**
 * A scripted rate-limit budget: how much one window allows. Each count that is set is enforced (a request
 * that does not fit gets a 429); the others keep large informational limits that nothing ever reaches.
 *
 * @example
 * ```ts
 * // 50 requests and 20 000 input tokens per 5 s window.
 * const budget: RateLimitBudget = { requests: 50, inputTokens: 20_000, windowMs: 5_000 };
 * ```
 */
export type RateLimitBudget = {
  /** Requests per window. */
  readonly requests?: number | undefined;
  /** Input plus output tokens per window. */
  readonly tokens?: number | undefined;
  /** Input tokens per window. */
  readonly inputTokens?: number | undefined;
  /** Output tokens per window. */
  readonly outputTokens?: number | undefined;
  /** Length of a window in ms, whole seconds, at least 1 000. Default 60 000. */
  readonly windowMs?: number | undefined;
};

/**
 * A budget with its defaults applied: `enforced` holds only the counts that were set.
 *
 * @example
 * ```ts
 * const resolved: ResolvedRateLimits = { enforced: { requests: 50 }, windowMs: 60_000 };
 * ```
 */
export type ResolvedRateLimits = {
  readonly enforced: Readonly<Partial<Record<RateLimitFamily, number>>>;
  readonly windowMs: number;
};

/**
 * No enforced limit, one-minute windows: the fake's default.
 *
 * @example
 * ```ts
 * DEFAULT_RATE_LIMITS.windowMs; // 60000
 * ```
 */
export const DEFAULT_RATE_LIMITS: ResolvedRateLimits = { enforced: {}, windowMs: 60_000 };

// Tier-4-like limits, reported for every family that has no scripted count: nothing a test sends reaches them.
const INFORMATIONAL: Readonly<Record<RateLimitFamily, number>> = {
  requests: 4000,
  'input-tokens': 2_000_000,
  'output-tokens': 400_000,
  tokens: 2_400_000,
};

const FAMILIES: readonly RateLimitFamily[] = ['requests', 'input-tokens', 'output-tokens', 'tokens'];

const OPTION_OF: Readonly<Record<RateLimitFamily, keyof RateLimitBudget>> = {
  requests: 'requests',
  'input-tokens': 'inputTokens',
  'output-tokens': 'outputTokens',
  tokens: 'tokens',
};

const BUDGET_KEYS = new Set<string>(['requests', 'tokens', 'inputTokens', 'outputTokens', 'windowMs']);

/**
 * Validates a {@link RateLimitBudget}; errors name the option.
 *
 * @param budget - the caller's budget
 * @param where - the option's name for error messages, e.g. `setDefault(): \`rateLimits\``
 * @returns the resolved budget
 * @example
 * ```ts
 * resolveRateLimits({ requests: 0 }, 'rateLimits');
 * // throws RangeError: rateLimits.requests must be a positive integer, got 0
 * ```
 */
export function resolveRateLimits(budget: unknown, where: string): ResolvedRateLimits {
  if (typeof budget !== 'object' || budget === null || Array.isArray(budget)) {
    throw new TypeError(`${where} must be an object such as { requests: 50, windowMs: 60000 }`);
  }
  for (const key of Object.keys(budget)) {
    if (!BUDGET_KEYS.has(key)) throw new TypeError(`${where}: unknown key \`${key}\``);
  }
  const given = budget as RateLimitBudget;
  const enforced: Partial<Record<RateLimitFamily, number>> = {};
  for (const family of FAMILIES) {
    const value = given[OPTION_OF[family]];
    if (value === undefined) continue;
    if (!(Number.isInteger(value) && value >= 1)) {
      throw new RangeError(`${where}.${OPTION_OF[family]} must be a positive integer, got ${String(value)}`);
    }
    enforced[family] = value;
  }
  const windowMs = given.windowMs ?? DEFAULT_RATE_LIMITS.windowMs;
  if (!(Number.isInteger(windowMs) && windowMs >= 1000 && windowMs % 1000 === 0)) {
    throw new RangeError(
      `${where}.windowMs must be a whole number of seconds in ms, at least 1000, got ${String(windowMs)}`,
    );
  }
  return { enforced, windowMs };
}

/**
 * What {@link RateLimiter.admit} decides: admitted (and charged), or refused naming the family that ran out.
 *
 * @example
 * ```ts
 * const decision = limiter.admit(11, 12);
 * if (!decision.admitted) console.log(decision.family, decision.retryAfterSeconds);
 * ```
 */
export type Admission =
  | { readonly admitted: true }
  | {
      readonly admitted: false;
      readonly family: RateLimitFamily;
      /** The family's limit, for the message. */
      readonly limit: number;
      /** Whole seconds until the window ends, at least 1. */
      readonly retryAfterSeconds: number;
      /** The API-like `error.message`. */
      readonly message: string;
    };

/**
 * The fake's rate-limit state: one fixed window at a time, counting what admitted requests used.
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter(DEFAULT_RATE_LIMITS);
 * const decision = limiter.admit(11, 12);
 * res.writeHead(decision.admitted ? 200 : 429, limiter.headers());
 * ```
 */
export type RateLimiter = {
  /** Replaces the budget and starts over: nothing used, no window open. */
  configure(limits: ResolvedRateLimits): void;
  /**
   * Checks one Messages request against every enforced count and, when it fits, charges it: 1 request,
   * `inputTokens`, `outputTokens`, and their sum as tokens. A request fits when at least 1 request,
   * `inputTokens` input tokens and tokens (and at least 1 of each), and 1 output token remain.
   */
  admit(inputTokens: number, outputTokens: number): Admission;
  /** The `anthropic-ratelimit-*` headers as of now, without charging anything. */
  headers(): Record<string, string>;
};

/**
 * Creates the fake's {@link RateLimiter}.
 *
 * A window opens with the first request after the previous one ended, and ends `windowMs` later, rounded
 * up to a whole second so the RFC 3339 `reset` (whole seconds, as the API sends it) is exactly when the
 * budget comes back: a client that waits until `reset` is never early. Counts floor at 0.
 *
 * @param initial - the budget to start with
 * @param wallClock - milliseconds since the epoch; injectable for tests
 * @returns the limiter
 * @example
 * ```ts
 * const limiter = createRateLimiter(resolveRateLimits({ requests: 1, windowMs: 2000 }, 'rateLimits'));
 * limiter.admit(3, 5); // { admitted: true }
 * limiter.admit(3, 5); // { admitted: false, family: 'requests', retryAfterSeconds: 2, ... }
 * ```
 */
export function createRateLimiter(initial: ResolvedRateLimits, wallClock: () => number = Date.now): RateLimiter {
  let limits = initial;
  let windowEnd = -Infinity;
  const used: Record<RateLimitFamily, number> = { requests: 0, 'input-tokens': 0, 'output-tokens': 0, tokens: 0 };

  const limitOf = (family: RateLimitFamily): number => limits.enforced[family] ?? INFORMATIONAL[family];
  const remainingOf = (family: RateLimitFamily): number => Math.max(0, limitOf(family) - used[family]);

  /** Rolls the window forward when it has ended; returns the current time. */
  const roll = (): number => {
    const now = wallClock();
    if (now >= windowEnd) {
      windowEnd = Math.ceil((now + limits.windowMs) / 1000) * 1000;
      for (const family of FAMILIES) used[family] = 0;
    }
    return now;
  };

  return {
    configure(next) {
      limits = next;
      windowEnd = -Infinity;
    },
    admit(inputTokens, outputTokens) {
      const now = roll();
      const needs: Readonly<Record<RateLimitFamily, number>> = {
        requests: 1,
        'input-tokens': Math.max(1, inputTokens),
        'output-tokens': 1,
        tokens: Math.max(1, inputTokens),
      };
      for (const family of FAMILIES) {
        const limit = limits.enforced[family];
        if (limit === undefined || remainingOf(family) >= needs[family]) continue;
        return {
          admitted: false,
          family,
          limit,
          retryAfterSeconds: Math.max(1, Math.ceil((windowEnd - now) / 1000)),
          message: refusal(family, limit, limits.windowMs, rfc3339(windowEnd)),
        };
      }
      used.requests += 1;
      used['input-tokens'] += inputTokens;
      used['output-tokens'] += outputTokens;
      used.tokens += inputTokens + outputTokens;
      return { admitted: true };
    },
    headers() {
      roll();
      const reset = rfc3339(windowEnd);
      const headers: Record<string, string> = {};
      for (const family of FAMILIES) {
        headers[`anthropic-ratelimit-${family}-limit`] = String(limitOf(family));
        headers[`anthropic-ratelimit-${family}-remaining`] = String(remainingOf(family));
        headers[`anthropic-ratelimit-${family}-reset`] = reset;
      }
      return headers;
    },
  };
}

function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function refusal(family: RateLimitFamily, limit: number, windowMs: number, reset: string): string {
  const unit = family === 'requests' ? 'requests' : `${family.replace('-', ' ')}`;
  const per = windowMs === 60_000 ? 'per minute' : `per ${windowMs / 1000} seconds`;
  return (
    `This request would exceed your organization's rate limit of ${limit} ${unit} ${per}. ` +
    `See the response headers for current usage, and try again after ${reset}.`
  );
}

/**
 * What an upstream response says about retrying it.
 *
 * @example
 * ```ts
 * const advice: RetryAdvice = { shouldRetry: undefined, retryAfterMs: 2000 };
 * ```
 */
export interface RetryAdvice {
  /** `x-should-retry: true` or `false`; `undefined` when absent or any other value, as in the SDK. */
  shouldRetry: boolean | undefined;
  /** Requested wait in ms (>= 0), or `undefined` when no usable header was sent. */
  retryAfterMs: number | undefined;
}

/**
 * The longest wait the guard reads from an upstream or writes in a `retry-after` header: 6 hours. Longer values
 * (`retry-after: 99999999999999999999999`, a date years ahead) are taken as this much.
 *
 * @example
 * ```ts
 * retryAfterSeconds(Number.MAX_VALUE); // '21600'
 * ```
 */
export const MAX_RETRY_AFTER_MS = 6 * 60 * 60 * 1000;

// Plain decimal only: parseFloat would read "5x" as 5 and Number would accept "1e3", "0x10" and "".
const DECIMAL = /^\d+(?:\.\d+)?$/;
// All three HTTP-date forms (IMF-fixdate, RFC 850, asctime) start with a day name; Date.parse alone is too lenient.
const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /;

/**
 * Reads `x-should-retry`, `retry-after-ms` and `retry-after` from an upstream response.
 *
 * The delay comes from `retry-after-ms` (decimal ms) when usable, else `retry-after` as decimal seconds or as an
 * HTTP date (date minus `now()`, clamped at 0). Unparseable, negative or non-finite values are ignored, so a
 * garbage `retry-after-ms` falls through to `retry-after`. The delay is capped at {@link MAX_RETRY_AFTER_MS}
 * (6 hours), far above the SDK's own 60 s cap: deciding whether a wait fits the deadline is the caller's job.
 *
 * @param headers - Response headers, or nothing (e.g. a connection error).
 * @param now - Clock in ms for HTTP dates; defaults to `Date.now`.
 * @returns The advice; both fields `undefined` when there are no headers.
 *
 * @example
 * ```ts
 * const advice = readRetryAdvice(new Headers({ 'retry-after': '2' }));
 * // { shouldRetry: undefined, retryAfterMs: 2000 }
 * ```
 */
export function readRetryAdvice(headers: Headers | undefined | null, now: () => number = Date.now): RetryAdvice {
  if (!headers) return { shouldRetry: undefined, retryAfterMs: undefined };
  const should = headers.get('x-should-retry');
  const shouldRetry = should === 'true' ? true : should === 'false' ? false : undefined;

  let retryAfterMs = parseDecimal(headers.get('retry-after-ms'), 1);
  if (retryAfterMs === undefined) {
    const value = headers.get('retry-after')?.trim();
    if (value) {
      retryAfterMs = parseDecimal(value, 1000);
      if (retryAfterMs === undefined && HTTP_DATE.test(value)) {
        const date = Date.parse(value);
        if (!Number.isNaN(date)) {
          const delta = date - now();
          retryAfterMs = delta > 0 ? delta : 0;
        }
      }
    }
  }
  if (retryAfterMs !== undefined && retryAfterMs > MAX_RETRY_AFTER_MS) retryAfterMs = MAX_RETRY_AFTER_MS;
  return { shouldRetry, retryAfterMs };
}

/**
 * Formats a delay as a `Retry-After` header value: a non-negative integer of seconds, rounded up so clients
 * never retry early, and at most {@link MAX_RETRY_AFTER_MS} (`"21600"`), so it never takes an exponent form.
 *
 * @param ms - Delay in ms; zero, negative or NaN give `"0"`; anything above 6 hours (`Infinity` too) gives `"21600"`.
 * @returns Whole seconds as a string, at least `"1"` for any positive delay.
 *
 * @example
 * ```ts
 * retryAfterSeconds(1200); // '2'
 * retryAfterSeconds(1); // '1'
 * retryAfterSeconds(0); // '0'
 * ```
 */
export function retryAfterSeconds(ms: number): string {
  if (!(ms > 0)) return '0';
  return String(Math.ceil(Math.min(ms, MAX_RETRY_AFTER_MS) / 1000));
}

function parseDecimal(raw: string | null | undefined, scale: number): number | undefined {
  if (!raw) return undefined;
  const value = raw.trim();
  if (!DECIMAL.test(value)) return undefined;
  const ms = Number(value) * scale;
  return Number.isFinite(ms) ? ms : undefined;
}

import { containsSecret } from './secret-scan.js';

// What the Anthropic API sends (`req_` + 24 base62 characters) and what fake-anthropic sends
// (`req_fake` + hex + digits), with room to grow; anything else is not a request id we pass on.
const REQUEST_ID = /^req_[A-Za-z0-9]{1,64}$/;
// The documented family; any other name could itself carry text (header names are lower-cased, not checked).
const RATE_LIMIT_FAMILIES = ['requests', 'tokens', 'input-tokens', 'output-tokens'];
const RATE_LIMIT_NAME = new RegExp(
  `^anthropic-ratelimit-(?:${RATE_LIMIT_FAMILIES.join('|')})-(limit|remaining|reset)$`,
);
// A count: a non-negative integer with no sign, exponent or leading zeros, below 2^53.
const COUNT = /^(?:0|[1-9]\d{0,14})$/;
// RFC 3339 date-time: full date, `T`, full time with optional fraction, `Z` or a numeric offset.
const RFC_3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/**
 * The upstream's `request-id`, when it has a request id's shape (`req_` and 1 to 64 ASCII letters
 * or digits) and holds no secret in any form; otherwise `undefined`, so nothing else is stored,
 * logged or sent.
 *
 * @param value - The raw header value (or the SDK's `requestID`).
 * @param secrets - The configured secrets, such as the API key in use.
 * @returns The id to keep, or `undefined`.
 *
 * @example
 * ```ts
 * upstreamRequestId('req_011CSHoEeqs5C35K2UUqR7Fy', [apiKey]); // 'req_011CSHoEeqs5C35K2UUqR7Fy'
 * upstreamRequestId('sk-ant-api03-...', [apiKey]); // undefined
 * ```
 */
export function upstreamRequestId(value: string | null | undefined, secrets: readonly string[]): string | undefined {
  if (typeof value !== 'string' || !REQUEST_ID.test(value)) return undefined;
  return containsSecret(value, secrets) ? undefined : value;
}

// Anthropic's error codes are snake_case identifiers (`file_expired`, `cmek_key_disabled`).
const ERROR_CODE = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The upstream's `error.details.error_code`, when it has an error code's shape (a lower-case
 * snake_case identifier of at most 64 characters) and holds no secret; otherwise `undefined`.
 *
 * @param value - The raw value (the SDK's `errorCode`, or an in-band event's).
 * @param secrets - The configured secrets, such as the API key in use.
 * @returns The code to keep, or `undefined`.
 *
 * @example
 * ```ts
 * upstreamErrorCode('cmek_key_disabled', [apiKey]); // 'cmek_key_disabled'
 * upstreamErrorCode('<script>', [apiKey]); // undefined
 * ```
 */
export function upstreamErrorCode(value: unknown, secrets: readonly string[]): string | undefined {
  if (typeof value !== 'string' || !ERROR_CODE.test(value)) return undefined;
  return containsSecret(value, secrets) ? undefined : value;
}

/**
 * Whether an upstream `anthropic-ratelimit-*` header may be passed on: one of the documented names
 * (`requests`, `tokens`, `input-tokens`, `output-tokens` x `limit`, `remaining`, `reset`), whose
 * value is a non-negative integer (`-limit`, `-remaining`) or a valid RFC 3339 time (`-reset`).
 *
 * @param name - Header name, lower-case (as `Headers` gives it).
 * @param value - Header value.
 * @param secrets - The configured secrets, such as the API key in use.
 * @returns True when the header can be forwarded as is.
 *
 * @example
 * ```ts
 * isForwardableRateLimit('anthropic-ratelimit-tokens-remaining', '9000', []); // true
 * isForwardableRateLimit('anthropic-ratelimit-tokens-reset', 'tomorrow', []); // false
 * ```
 */
export function isForwardableRateLimit(name: string, value: string, secrets: readonly string[]): boolean {
  const field = RATE_LIMIT_NAME.exec(name)?.[1];
  if (field === undefined) return false;
  const valid = field === 'reset' ? isRfc3339(value) : COUNT.test(value);
  return valid && !containsSecret(value, secrets);
}

function isRfc3339(value: string): boolean {
  const parts = RFC_3339.exec(value);
  if (!parts) return false;
  // An absent offset reads as +00:00.
  const [year, month, day, hour, minute, second, offsetHour, offsetMinute] = parts
    .slice(1)
    .map((part) => (part === undefined ? 0 : Number(part))) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  // Second 60 is a leap second.
  return (
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 60 &&
    offsetHour <= 23 &&
    offsetMinute <= 59
  );
}

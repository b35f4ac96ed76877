/**
 * Every `error.type` the Anthropic API answers with: the one list the guard's union type, its
 * membership check and its status mapping are derived from.
 *
 * @example
 * ```ts
 * ANTHROPIC_ERROR_TYPES.includes('overloaded_error'); // true
 * ```
 */
export const ANTHROPIC_ERROR_TYPES = [
  'invalid_request_error',
  'authentication_error',
  'billing_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'api_error',
  'timeout_error',
  'overloaded_error',
  'conflict_error',
] as const;

/**
 * The `error.type` values of the Anthropic API.
 *
 * @example
 * ```ts
 * const type: AnthropicErrorType = 'overloaded_error';
 * ```
 */
export type AnthropicErrorType = (typeof ANTHROPIC_ERROR_TYPES)[number];

const KNOWN: ReadonlySet<string> = new Set(ANTHROPIC_ERROR_TYPES);

/**
 * Whether `value` is one of {@link ANTHROPIC_ERROR_TYPES}.
 *
 * @example
 * ```ts
 * isAnthropicErrorType('overloaded_error'); // true
 * isAnthropicErrorType('toString'); // false
 * ```
 */
export function isAnthropicErrorType(value: unknown): value is AnthropicErrorType {
  return typeof value === 'string' && KNOWN.has(value);
}

/**
 * An upstream's type as one of ours: an unknown type is reported as `api_error`, as the SDK does.
 *
 * @example
 * ```ts
 * toAnthropicErrorType('brand_new_error'); // 'api_error'
 * ```
 */
export function toAnthropicErrorType(value: unknown): AnthropicErrorType {
  return isAnthropicErrorType(value) ? value : 'api_error';
}

/**
 * Maps an HTTP status to the Anthropic error type the API uses for it.
 *
 * Unknown 4xx map to `invalid_request_error` and everything else unknown (5xx or out of range) to `api_error`,
 * which keeps SDK clients' retry decisions, based on status, consistent with the type.
 *
 * @param status - HTTP status code.
 * @returns The matching error type.
 *
 * @example
 * ```ts
 * errorTypeForStatus(529); // 'overloaded_error'
 * errorTypeForStatus(418); // 'invalid_request_error'
 * ```
 */
export function errorTypeForStatus(status: number): AnthropicErrorType {
  switch (status) {
    case 400:
    case 422:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 408:
      return 'timeout_error';
    case 409:
      return 'conflict_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 400 && status < 500 ? 'invalid_request_error' : 'api_error';
  }
}

const STATUS_FOR_TYPE: Readonly<Record<AnthropicErrorType, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  // An upstream's internal error, told by a gateway: 502, as for any other upstream failure.
  api_error: 502,
  timeout_error: 504,
  overloaded_error: 529,
  conflict_error: 409,
};

/**
 * The status a guard answers with when the upstream reported `type` without an HTTP status of its
 * own (an in-band stream error before commit): the API's status for that type, 502 for `api_error`
 * and 504 for `timeout_error` (the upstream's, seen through us).
 *
 * @example
 * ```ts
 * statusForErrorType('invalid_request_error'); // 400
 * statusForErrorType('overloaded_error'); // 529
 * ```
 */
export function statusForErrorType(type: AnthropicErrorType): number {
  return STATUS_FOR_TYPE[type];
}

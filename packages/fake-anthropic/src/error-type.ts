/**
 * The `error.type` values the Messages API sends, one per documented status.
 *
 * @example
 * ```ts
 * import type { AnthropicErrorType } from '@claude-guard/fake-anthropic';
 * const type: AnthropicErrorType = 'overloaded_error';
 * ```
 */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'timeout_error'
  | 'conflict_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error';

// Mirrors the status table in docs/anthropic-wire.md; the SDK picks its error class from the status,
// so each status must carry the type the real API pairs with it.
const TYPE_BY_STATUS: ReadonlyMap<number, AnthropicErrorType> = new Map<number, AnthropicErrorType>([
  [400, 'invalid_request_error'],
  [401, 'authentication_error'],
  [402, 'billing_error'],
  [403, 'permission_error'],
  [404, 'not_found_error'],
  [408, 'timeout_error'],
  [409, 'conflict_error'],
  [413, 'request_too_large'],
  [429, 'rate_limit_error'],
  [500, 'api_error'],
  [503, 'api_error'],
  [504, 'api_error'],
  [529, 'overloaded_error'],
]);

// The reverse direction, used when an in-band error type has to become a status (non-streaming requests).
const STATUS_BY_TYPE: Readonly<Record<AnthropicErrorType, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  timeout_error: 408,
  conflict_error: 409,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  overloaded_error: 529,
};

const DEFAULT_MESSAGES: Readonly<Record<AnthropicErrorType, string>> = {
  invalid_request_error: 'Invalid request',
  authentication_error: 'invalid x-api-key',
  billing_error: 'Your credit balance is too low to access the Anthropic API.',
  permission_error: 'Your API key does not have permission to use the specified resource.',
  not_found_error: 'Not found',
  timeout_error: 'Request timed out',
  conflict_error: 'Conflict',
  request_too_large: 'Request exceeds the maximum allowed number of bytes.',
  rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit',
  api_error: 'Internal server error',
  overloaded_error: 'Overloaded',
};

/**
 * Every known error type; used to validate user input.
 *
 * @example
 * ```ts
 * ERROR_TYPES.includes('overloaded_error'); // true
 * ```
 */
export const ERROR_TYPES: readonly AnthropicErrorType[] = Object.keys(STATUS_BY_TYPE) as AnthropicErrorType[];

/**
 * The `error.type` the real API sends with `status`. Statuses outside the table fall back to
 * `invalid_request_error` (4xx) or `api_error` (5xx), as the SDK's own fallback classes do.
 *
 * @param status - an HTTP status code
 * @returns the matching Anthropic error type
 * @example
 * ```ts
 * errorTypeForStatus(529); // 'overloaded_error'
 * errorTypeForStatus(418); // 'invalid_request_error'
 * ```
 */
export function errorTypeForStatus(status: number): AnthropicErrorType {
  return TYPE_BY_STATUS.get(status) ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/**
 * The status the real API uses for an error type.
 *
 * @param type - an Anthropic error type
 * @returns its HTTP status
 * @example
 * ```ts
 * statusForErrorType('rate_limit_error'); // 429
 * ```
 */
export function statusForErrorType(type: AnthropicErrorType): number {
  return STATUS_BY_TYPE[type];
}

/**
 * The message the fake puts in `error.message` when the caller did not choose one.
 *
 * @param type - an Anthropic error type
 * @returns a short human-readable message
 * @example
 * ```ts
 * defaultErrorMessage('overloaded_error'); // 'Overloaded'
 * ```
 */
export function defaultErrorMessage(type: AnthropicErrorType): string {
  return DEFAULT_MESSAGES[type];
}

/**
 * Whether `value` is one of the known error types.
 *
 * @param value - any string
 * @returns true when `value` is an {@link AnthropicErrorType}
 * @example
 * ```ts
 * isErrorType('api_error'); // true
 * ```
 */
export function isErrorType(value: string): value is AnthropicErrorType {
  return Object.hasOwn(STATUS_BY_TYPE, value);
}

// Messages in the spirit of the API's (and of the SDK's class descriptions) for the codes the fake has shorthands for.
const CODE_MESSAGES: Readonly<Record<string, string>> = {
  enforced_spend_limit_reached:
    'Your organization has crossed the monthly API usage limit of its tier. Usage resumes when the limit resets or is raised.',
  contract_spend_limit_reached: 'Your organization has reached the spend limit of its contract.',
  ramp_limit_exceeded:
    'Your usage is growing faster than your ramp limit allows. Retry after the time in the retry-after header.',
};

/**
 * The message the fake sends with an `error.details.error_code` when the caller did not choose one;
 * `undefined` for codes without a message of their own (the type's default message is used).
 *
 * @param code - an `error_code`
 * @returns the message, if the code has one
 * @example
 * ```ts
 * defaultErrorCodeMessage('contract_spend_limit_reached'); // 'Your organization has reached the spend limit of its contract.'
 * ```
 */
export function defaultErrorCodeMessage(code: string): string | undefined {
  return Object.hasOwn(CODE_MESSAGES, code) ? CODE_MESSAGES[code] : undefined;
}

/**
 * The `error.type` values of the Anthropic API.
 *
 * @example
 * ```ts
 * const type: AnthropicErrorType = 'overloaded_error';
 * ```
 */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'timeout_error'
  | 'overloaded_error'
  | 'conflict_error';

/**
 * An error body shaped like the Anthropic API's, so SDK clients map it to the right error class.
 *
 * @example
 * ```ts
 * const body: AnthropicErrorBody = {
 *   type: 'error',
 *   error: { type: 'timeout_error', message: 'Deadline exceeded' },
 *   request_id: 'cg_abc',
 * };
 * ```
 */
export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
  request_id: string;
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

/**
 * Builds an Anthropic-shaped error body. Pass a message already cleaned by {@link redactSecrets}.
 *
 * @param type - Error type, e.g. from {@link errorTypeForStatus}.
 * @param message - Human-readable, sanitized message.
 * @param requestId - Correlation id to echo back.
 * @returns A fresh body object, ready for `JSON.stringify`.
 *
 * @example
 * ```ts
 * const body = anthropicErrorBody('timeout_error', 'Deadline of 500 ms exceeded', 'cg_abc');
 * return Response.json(body, { status: 408 });
 * ```
 */
export function anthropicErrorBody(type: AnthropicErrorType, message: string, requestId: string): AnthropicErrorBody {
  return { type: 'error', error: { type, message }, request_id: requestId };
}

const REDACTED = '[redacted]';
const MAX_MESSAGE_LENGTH = 500;
const ANTHROPIC_KEY = /sk-ant-[A-Za-z0-9_-]+/g;
// Node prints stack frames as "\n    at fn (file:line)"; other runtimes indent with tabs or fewer spaces.
const STACK_FRAME = /\r?\n[ \t]+at /;

/**
 * Makes an error message safe to send to a client.
 *
 * Drops everything from the first stack-frame line (`\n    at ...`), replaces every occurrence of each non-empty
 * secret (longest first, so a secret containing another is not half-revealed) and anything shaped like an
 * Anthropic key (`sk-ant-...`) with `[redacted]`, then caps the result at 500 characters. Redaction runs before
 * the cap so a secret cut by the cap cannot leak its prefix; the cap never splits a surrogate pair.
 *
 * @param text - Raw message, e.g. `String(error.message)`.
 * @param secrets - Values that must never reach a client, such as the API key in use.
 * @returns The sanitized message.
 *
 * @example
 * ```ts
 * redactSecrets('bad key sk-ant-api03-abc\n    at fetch (x.js:1:1)', []); // 'bad key [redacted]'
 * ```
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  const frame = STACK_FRAME.exec(result);
  if (frame) result = result.slice(0, frame.index);

  if (secrets.length === 1) {
    if (secrets[0]) result = result.replaceAll(secrets[0], REDACTED);
  } else if (secrets.length > 1) {
    const ordered = [...secrets].sort((a, b) => b.length - a.length);
    for (const secret of ordered) if (secret) result = result.replaceAll(secret, REDACTED);
  }
  result = result.replace(ANTHROPIC_KEY, REDACTED);

  if (result.length <= MAX_MESSAGE_LENGTH) return result;
  const code = result.charCodeAt(MAX_MESSAGE_LENGTH - 1);
  const end = code >= 0xd800 && code <= 0xdbff ? MAX_MESSAGE_LENGTH - 1 : MAX_MESSAGE_LENGTH;
  return result.slice(0, end);
}

import { findSecrets } from './secret-scan.js';

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
// Only this much is scanned (an upstream error can be large): far more than the 500 characters kept.
const MAX_SCANNED_LENGTH = 8_192;
// Node prints stack frames as "\n    at fn (file:line)"; other runtimes indent with tabs or fewer spaces.
const STACK_FRAME = /\r?\n[ \t]+at /;

/**
 * Makes an upstream-originated message safe to send to a client, a log line or an event.
 *
 * Drops everything from the first stack-frame line (`\n    at ...`), then replaces with `[redacted]` every
 * place where a secret appears in any form a hostile upstream could echo it in (exact, upper-, lower- or
 * mixed-case, separated by spaces or other characters, percent-encoded, reversed, hex, base64, base64url, or a
 * run of 12 of its characters in any of those), and anything shaped like an Anthropic key (`sk-ant-...`), then
 * caps the result at 500 characters. Redaction runs before the cap so a secret cut by the cap cannot leak its
 * prefix; the cap never splits a surrogate pair. Secrets shorter than 8 letters and digits are matched exactly.
 *
 * @param text - Raw message, e.g. `String(error.message)`.
 * @param secrets - Values that must never reach a client, such as the API key in use.
 * @returns The sanitized message.
 *
 * @example
 * ```ts
 * redactSecrets('bad key sk-ant-api03-abc\n    at fetch (x.js:1:1)', []); // 'bad key [redacted]'
 * redactSecrets('bad key ' + btoa('my-gateway-token-123'), ['my-gateway-token-123']); // 'bad key [redacted]'
 * ```
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  const frame = STACK_FRAME.exec(result);
  if (frame) result = result.slice(0, frame.index);
  result = cut(result, MAX_SCANNED_LENGTH);

  const ranges = findSecrets(result, secrets);
  if (ranges.length > 0) {
    let redacted = '';
    let at = 0;
    for (const [start, end] of ranges) {
      redacted += `${result.slice(at, start)}${REDACTED}`;
      at = end;
    }
    result = redacted + result.slice(at);
  }
  return cut(result, MAX_MESSAGE_LENGTH);
}

function cut(text: string, length: number): string {
  if (text.length <= length) return text;
  const code = text.charCodeAt(length - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length);
}

import type { AnthropicErrorType } from './anthropic-error-types.js';
import { findSecrets } from './secret-scan.js';

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
 * Builds an Anthropic-shaped error body. Pass a message already cleaned by {@link redactSecrets}.
 *
 * @param type - Error type, e.g. from `errorTypeForStatus`.
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

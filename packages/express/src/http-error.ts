import { ClaudeGuardError, errorTypeForStatus } from '@claude-guard/core';
import { STATUS_CODES } from 'node:http';

/**
 * An Express-world HTTP error as the guard's: body-parser's (its own wording), or any error with a
 * `status` or `statusCode` from 400 to 599 (http-errors', Express's own), answered as Express's final
 * handler would (that status, the error's message only when `expose` is true, else the status's reason
 * phrase, its `headers`), in the Anthropic shape. A 5xx is a server failure: the error goes along as
 * the `cause`, for the guard's log. `undefined` for anything else.
 *
 * @param error - What reached the error handler.
 * @returns The error to answer with, or `undefined` when it is not an HTTP error.
 *
 * @example
 * ```ts
 * httpError(createError(403, 'You may not')); // 403 permission_error 'You may not'
 * ```
 */
export function httpError(error: unknown): ClaudeGuardError | undefined {
  const parsed = bodyParserError(error);
  if (parsed) return parsed;
  if (!(error instanceof Error)) return undefined;
  const { status, statusCode, expose, headers } = error as {
    status?: unknown;
    statusCode?: unknown;
    expose?: unknown;
    headers?: unknown;
  };
  const code = typeof status === 'number' ? status : statusCode;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 400 || code > 599) return undefined;
  return new ClaudeGuardError({
    status: code,
    type: errorTypeForStatus(code),
    message: expose === true && error.message !== '' ? error.message : (STATUS_CODES[code] ?? `HTTP ${code}`),
    outcome: code < 500 ? 'bad-request' : 'internal-error',
    headers: headerRecord(headers),
    ...(code >= 500 ? { cause: error } : {}),
  });
}

// The body is the guard's: its type and length are too.
const BODY_HEADERS = new Set(['content-type', 'content-length', 'content-encoding']);

function headerRecord(headers: unknown): Record<string, string> {
  const record: Record<string, string> = {};
  if (typeof headers !== 'object' || headers === null) return record;
  for (const [name, value] of Object.entries(headers)) {
    if (BODY_HEADERS.has(name.toLowerCase())) continue;
    if (typeof value === 'string' || typeof value === 'number') record[name.toLowerCase()] = String(value);
  }
  return record;
}

/**
 * body-parser's failures (`express.json()` in front of a guarded route): bad JSON, too large,
 * bad charset. Answered Anthropic-shaped instead of Express's HTML page with a stack.
 */
function bodyParserError(error: unknown): ClaudeGuardError | undefined {
  const { type, status, limit } = (error ?? {}) as { type?: unknown; status?: unknown; limit?: unknown };
  if (typeof type !== 'string' || typeof status !== 'number' || !/^(entity|encoding|charset|request)\./.test(type)) {
    return undefined;
  }
  const tooLarge = type === 'entity.too.large';
  return new ClaudeGuardError({
    status: tooLarge ? 413 : status >= 400 && status < 500 ? status : 400,
    type: tooLarge ? 'request_too_large' : 'invalid_request_error',
    message: tooLarge
      ? typeof limit === 'number'
        ? `The request body exceeds this route's limit of ${limit} bytes`
        : 'The request body is too large'
      : type === 'entity.parse.failed'
        ? 'The request body is not valid JSON'
        : 'The request body could not be read',
    outcome: 'bad-request',
    // The same answer as the passthrough's 413: the client must not reuse the connection for its next request.
    ...(tooLarge ? { headers: { connection: 'close' } } : {}),
  });
}

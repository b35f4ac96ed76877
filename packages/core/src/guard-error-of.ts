import type { AnthropicErrorType } from './anthropic-error-types.js';
import { ClaudeGuardError, isClaudeGuardError, tagRequest, type FailureOutcome } from './guard-error.js';

// The guard's SDK middleware answers a call it gave up on with an error Response, which the SDK
// turns into its own `APIError` carrying that Response's headers. The guard's error travels in one
// of them, so a guarded route can answer with the guard's status and words (a 504 for a spent
// deadline) instead of a 500 for a foreign error. Not by the `Headers` object's identity: a
// runtime's own `Response` (@hono/node-server's) may hand the SDK a copy. The header starts with a
// random nonce of this process, so no upstream response can pass for the guard's.
const HEADER = 'x-claude-guard-error';
// Made at first use: Cloudflare Workers refuse random values at a module's top level.
let nonce: string | undefined;
const processNonce = (): string =>
  (nonce ??= Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join(''));
const read = new WeakMap<object, ClaudeGuardError>();

interface Carried {
  status: number;
  type: AnthropicErrorType;
  message: string;
  outcome: FailureOutcome;
  headers: Record<string, string>;
  attempts: number;
  upstreamRequestId: string | undefined;
  requestId: string | undefined;
  requestIdHeader: string | undefined;
}

/**
 * Writes `error` (its public, already sanitized fields) into `headers`, for {@link claudeGuardErrorOf}.
 *
 * @example
 * ```ts
 * rememberGuardError(headers, guardError);
 * ```
 */
export function rememberGuardError(headers: Headers, error: ClaudeGuardError): void {
  const carried: Carried = {
    status: error.status,
    type: error.type,
    message: error.message,
    outcome: error.outcome,
    headers: { ...error.headers },
    attempts: error.attempts,
    upstreamRequestId: error.upstreamRequestId,
    requestId: error.requestId,
    requestIdHeader: error.requestIdHeader,
  };
  headers.set(HEADER, `${processNonce()}.${encodeURIComponent(JSON.stringify(carried))}`);
}

/**
 * The guard's error behind `error`: `error` itself when it is a {@link ClaudeGuardError}, the
 * guard's error when `error` is the SDK's `APIError` for a call that the guard's middleware
 * (`guard.middleware()`) gave up on, else `undefined`. The adapters' error handlers use it, so a
 * handler that lets such an error through answers with the guard's status (504, 503, ...).
 *
 * @param error - Anything caught.
 * @returns The guard's error, or `undefined` for any other error.
 *
 * @example
 * ```ts
 * try {
 *   await client.messages.create(params); // a client built with guard.middleware()
 * } catch (err) {
 *   if (claudeGuardErrorOf(err)?.outcome === 'breaker-open') return cachedAnswer();
 *   throw err;
 * }
 * ```
 */
export function claudeGuardErrorOf(error: unknown): ClaudeGuardError | undefined {
  if (isClaudeGuardError(error)) return error;
  if (typeof error !== 'object' || error === null) return undefined;
  const known = read.get(error);
  if (known) return known;
  const headers = (error as { headers?: unknown }).headers;
  const value = headers instanceof Headers ? headers.get(HEADER) : null;
  const prefix = `${processNonce()}.`;
  if (value === null || !value.startsWith(prefix)) return undefined;
  let carried: Carried;
  try {
    carried = JSON.parse(decodeURIComponent(value.slice(prefix.length))) as Carried;
  } catch {
    return undefined;
  }
  const guardError = new ClaudeGuardError(carried);
  if (carried.requestId !== undefined && carried.requestIdHeader !== undefined) {
    tagRequest(guardError, carried.requestId, carried.requestIdHeader);
  }
  read.set(error, guardError);
  return guardError;
}

import type { AnthropicErrorType } from './anthropic-error-types.js';
import { anthropicErrorBody, type AnthropicErrorBody } from './error-body.js';

/**
 * Why a guarded call ended without an answer; used in logs and events.
 *
 * @example
 * ```ts
 * if (err instanceof ClaudeGuardError && err.outcome === 'breaker-open') metrics.increment('claude.breaker_open');
 * ```
 */
export type FailureOutcome =
  | 'bad-request'
  | 'deadline-exceeded'
  | 'client-aborted'
  | 'upstream-error'
  | 'upstream-unreachable'
  | 'attempt-timeout'
  | 'stream-stalled'
  | 'breaker-open'
  | 'retry-budget-exhausted'
  // Admission control: refused before Claude was called.
  | 'queue-full'
  | 'queue-timeout'
  | 'rate-limited'
  | 'spend-limit'
  | 'internal-error';

/**
 * Options for {@link ClaudeGuardError}.
 *
 * @example
 * ```ts
 * throw new ClaudeGuardError({ status: 400, type: 'invalid_request_error', message: 'message: required', outcome: 'bad-request' });
 * ```
 */
export interface ClaudeGuardErrorInit {
  status: number;
  type: AnthropicErrorType;
  /** Already-sanitized text that is safe to show a client. */
  message: string;
  outcome: FailureOutcome;
  headers?: Record<string, string>;
  attempts?: number;
  upstreamRequestId?: string | undefined;
  /**
   * The foreign error behind a sanitized `internal-error` (a bug in the caller's code): never sent,
   * only logged (`guard.reportError`).
   */
  cause?: unknown;
}

/**
 * The one error type clients of a guarded route ever see. Its `message` is our own, sanitized
 * wording (never an API key, stack or raw upstream body); `toBody()` gives the Anthropic shape.
 * Throwing it from a handler lets the adapter's error handler answer with the right status.
 * Rendering it as a `Response` is `errorResponse` (response.ts) or `guard.errorResponse()`: the
 * error itself does not know which header the guard sends the request id in until a call tags it.
 *
 * @example
 * ```ts
 * try {
 *   await req.claude.messages.create(params);
 * } catch (err) {
 *   if (err instanceof ClaudeGuardError) console.log(err.status, err.type, err.outcome);
 *   throw err;
 * }
 * ```
 */
export class ClaudeGuardError extends Error {
  override readonly name = 'ClaudeGuardError';
  readonly status: number;
  readonly type: AnthropicErrorType;
  readonly outcome: FailureOutcome;
  /** Headers to send with the error response (`retry-after`, ...). */
  readonly headers: Readonly<Record<string, string>>;
  readonly attempts: number;
  readonly upstreamRequestId: string | undefined;
  /** The guarded request's id, once the error has passed through one (set with {@link tagRequest}). */
  requestId: string | undefined;
  /** The header that request's id travels in (the guard's `requestIdHeader`), set with `requestId`. */
  requestIdHeader: string | undefined;

  constructor(init: ClaudeGuardErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.type = init.type;
    this.outcome = init.outcome;
    this.headers = init.headers ?? {};
    this.attempts = init.attempts ?? 0;
    this.upstreamRequestId = init.upstreamRequestId;
  }

  /** The Anthropic-shaped body for this error. */
  toBody(requestId: string): AnthropicErrorBody {
    return anthropicErrorBody(this.type, this.message, requestId);
  }
}

/**
 * Tags an error with the request it ended, unless an earlier request already did (an error
 * rethrown from a nested call keeps the id of the request that raised it): from then on every
 * renderer answers it under the right id and header, whichever handler catches it.
 *
 * @param error - The error leaving a guarded call or route.
 * @param requestId - That request's correlation id.
 * @param requestIdHeader - The guard's configured correlation header.
 * @returns `error`, tagged.
 *
 * @example
 * ```ts
 * throw tagRequest(error, call.requestId, call.requestIdHeader);
 * ```
 */
export function tagRequest(error: ClaudeGuardError, requestId: string, requestIdHeader: string): ClaudeGuardError {
  if (error.requestId === undefined) {
    error.requestId = requestId;
    error.requestIdHeader = requestIdHeader;
  }
  return error;
}

/**
 * Type guard that also recognizes a `ClaudeGuardError` from another copy of this package
 * (dual ESM/CJS installs), by shape.
 *
 * @example
 * ```ts
 * app.onError((err, c) => (isClaudeGuardError(err) ? c.json(err.toBody('req'), err.status) : c.text('oops', 500)));
 * ```
 */
export function isClaudeGuardError(value: unknown): value is ClaudeGuardError {
  return (
    value instanceof ClaudeGuardError ||
    (value instanceof Error &&
      value.name === 'ClaudeGuardError' &&
      typeof (value as Partial<ClaudeGuardError>).toBody === 'function')
  );
}

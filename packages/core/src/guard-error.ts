import type { AnthropicErrorType } from './anthropic-error-types.js';
import { anthropicErrorBody, type AnthropicErrorBody } from './error-body.js';
import { errorResponse } from './response.js';

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
}

/**
 * The one error type clients of a guarded route ever see. Its `message` is our own, sanitized
 * wording (never an API key, stack or raw upstream body); `toBody()` gives the Anthropic shape.
 * Throwing it from a handler lets the adapter's error handler answer with the right status.
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
  /** The guarded request's id, once the error has passed through one. */
  requestId: string | undefined;

  constructor(init: ClaudeGuardErrorInit) {
    super(init.message);
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

  /**
   * The full error `Response`. Hono's default error handler answers with it (as it does for
   * `HTTPException`) instead of logging a stack and sending a bare 500.
   */
  getResponse(): Response {
    return errorResponse(this, this.requestId ?? 'unknown', this.upstreamRequestId);
  }
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

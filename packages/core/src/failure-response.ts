import { statusForErrorType } from './anthropic-error-types.js';
import type { AttemptFailure } from './classify.js';
import { DeadlineExceededError } from './deadline.js';
import { redactSecrets } from './error-body.js';
import { ClaudeGuardError, type FailureOutcome } from './guard-error.js';
import { MalformedMessageError } from './message-body.js';
import { retryAfterSeconds } from './retry-after.js';
import { MalformedStreamError } from './upstream-errors.js';

/** How a final failure is told to a client. */
export interface FailureWording {
  route: string;
  attempts: number;
  /** Let an upstream 4xx message (redacted) through: the passthrough's choice. */
  forwardClientErrors: boolean;
  secrets: readonly string[];
  /** Overrides the outcome the failure implies (the retry budget refused a retry, say). */
  outcome?: FailureOutcome | undefined;
}

/**
 * Turns the last attempt's failure into the sanitized error a client sees. Our own wording
 * everywhere, except a redacted upstream 4xx message where the passthrough allows it.
 *
 * @example
 * ```ts
 * throw toGuardError(failure, { route: 'chat', attempts: 3, forwardClientErrors: false, secrets: [] });
 * ```
 */
export function toGuardError(failure: AttemptFailure, wording: FailureWording): ClaudeGuardError {
  const error = describeFailure(failure, wording);
  return wording.outcome === undefined
    ? error
    : new ClaudeGuardError({
        status: error.status,
        type: error.type,
        message: error.message,
        outcome: wording.outcome,
        headers: { ...error.headers },
        attempts: error.attempts,
        upstreamRequestId: error.upstreamRequestId,
      });
}

function describeFailure(failure: AttemptFailure, wording: FailureWording): ClaudeGuardError {
  const { attempts, route } = wording;
  const tries = attempts === 1 ? '1 attempt' : `${attempts} attempts`;
  const upstreamRequestId = failure.upstreamRequestId;
  switch (failure.kind) {
    case 'deadline': {
      const reason =
        failure.error instanceof DeadlineExceededError ? failure.error.message : 'The request deadline ran out';
      return new ClaudeGuardError({
        status: 504,
        type: 'timeout_error',
        message: `${reason} before Claude answered (route '${route}', ${tries})`,
        outcome: 'deadline-exceeded',
        attempts,
        upstreamRequestId,
      });
    }
    case 'client-abort':
      return new ClaudeGuardError({
        status: 499,
        type: 'api_error',
        message: 'The client closed the connection',
        outcome: 'client-aborted',
        attempts,
      });
    case 'attempt-timeout':
      return new ClaudeGuardError({
        status: 504,
        type: 'timeout_error',
        message: `Claude did not answer within the route's attempt timeout (route '${route}', ${tries})`,
        outcome: 'attempt-timeout',
        attempts,
      });
    case 'stream-stalled':
      return new ClaudeGuardError({
        status: 504,
        type: 'timeout_error',
        message: `Claude's stream stalled (route '${route}', ${tries})`,
        outcome: 'stream-stalled',
        attempts,
      });
    case 'connection':
      return new ClaudeGuardError({
        status: 502,
        type: 'api_error',
        message: `Could not reach the Claude API (route '${route}', ${tries})`,
        outcome: 'upstream-unreachable',
        attempts,
      });
    case 'malformed':
      return new ClaudeGuardError({
        status: 502,
        type: 'api_error',
        message: `${malformedSummary(failure.error)} (route '${route}', ${tries})`,
        outcome: 'upstream-error',
        attempts,
      });
    case 'in-band': {
      // Before a commit an in-band error is answered with the status the API uses for its type,
      // as if it had come as that HTTP error (a stream's 200 was never sent on).
      const status = statusForErrorType(failure.type);
      const forward = wording.forwardClientErrors && status < 500 && failure.upstreamMessage;
      return new ClaudeGuardError({
        status,
        type: failure.type,
        message: forward
          ? redactSecrets(failure.upstreamMessage ?? '', wording.secrets)
          : `The Claude API failed with ${failure.type} (route '${route}', ${tries})`,
        outcome: clientErrorStatus(status) ? 'bad-request' : 'upstream-error',
        attempts,
        upstreamRequestId,
      });
    }
    case 'http': {
      const status = failure.status ?? 502;
      const forward = wording.forwardClientErrors && status < 500 && failure.upstreamMessage;
      const message = forward
        ? redactSecrets(failure.upstreamMessage ?? '', wording.secrets)
        : `The Claude API answered ${status} ${failure.type} (route '${route}', ${tries})`;
      const headers: Record<string, string> = {};
      if (failure.retryAfterMs !== undefined) headers['retry-after'] = retryAfterSeconds(failure.retryAfterMs);
      return new ClaudeGuardError({
        status,
        type: failure.type,
        message,
        outcome: clientErrorStatus(status) ? 'bad-request' : 'upstream-error',
        headers,
        attempts,
        upstreamRequestId,
      });
    }
    case 'unknown':
      return new ClaudeGuardError({
        status: 500,
        type: 'api_error',
        message: `Internal error in route '${route}'`,
        outcome: 'internal-error',
        attempts,
      });
  }
}

/** A 4xx that is the request's fault (not 408, 409, 429: those are the upstream's state). */
function clientErrorStatus(status: number): boolean {
  return status < 500 && status !== 408 && status !== 409 && status !== 429;
}

/** What a client is told about a malformed upstream answer: our own words, never upstream text. */
function malformedSummary(error: unknown): string {
  if (error instanceof MalformedMessageError) return error.summary;
  const problem = error instanceof MalformedStreamError ? error.problem : undefined;
  return `The Claude API sent ${problem ?? 'a malformed stream'}`;
}

import { statusForErrorType } from './anthropic-error-types.js';
import type { AttemptFailure } from './classify.js';
import { DeadlineExceededError } from './deadline.js';
import { redactSecrets } from './error-body.js';
import { ClaudeGuardError, type FailureOutcome } from './guard-error.js';
import { MalformedMessageError } from './message-body.js';
import { retryAfterSeconds } from './retry-after.js';
import { AttemptTimeoutError, MalformedStreamError, StreamStallError } from './upstream-errors.js';

/**
 * When a failure is told: `before-commit`, nothing was sent yet and the client gets a real HTTP
 * status; `after-commit`, a stream's 200 and some events are out, and the failure becomes one
 * in-band `error` event (its status is never sent).
 *
 * @example
 * ```ts
 * const phase: FailurePhase = committed ? 'after-commit' : 'before-commit';
 * ```
 */
export type FailurePhase = 'before-commit' | 'after-commit';

/**
 * How a failure is told: the phase, and before a commit what the message names.
 *
 * @example
 * ```ts
 * const wording: FailureWording = { phase: 'before-commit', route: 'chat', attempts: 3, forwardClientErrors: false, secrets: [] };
 * ```
 */
export type FailureWording =
  | {
      phase: 'before-commit';
      route: string;
      attempts: number;
      /** Let an upstream 4xx message (redacted) through: the passthrough's choice. */
      forwardClientErrors: boolean;
      secrets: readonly string[];
      /** Overrides the outcome the failure implies (the retry budget refused a retry, say). */
      outcome?: FailureOutcome | undefined;
    }
  | { phase: 'after-commit' };

/**
 * The one place a classified failure becomes the sanitized error a client sees: our own wording
 * everywhere, except a redacted upstream 4xx message where the passthrough allows it (before a
 * commit only). After a commit the error's type, message and outcome are what the in-band `error`
 * event and the log line carry.
 *
 * @param failure - The failure, from `classifyFailure`.
 * @param wording - The phase, and what to name.
 * @returns The error to answer with (before a commit) or to send in-band (after).
 *
 * @example
 * ```ts
 * throw wordFailure(failure, { phase: 'before-commit', route: 'chat', attempts: 3, forwardClientErrors: false, secrets: [] });
 * const { type, message } = wordFailure(failure, { phase: 'after-commit' });
 * ```
 */
export function wordFailure(failure: AttemptFailure, wording: FailureWording): ClaudeGuardError {
  if (wording.phase === 'after-commit') return afterCommit(failure);
  const error = beforeCommit(failure, wording);
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

/**
 * The breaker refused the call: nobody asked Claude. Its wait is sent as `retry-after`.
 *
 * @example
 * ```ts
 * throw breakerOpenError('chat', breakerError.retryAfterMs);
 * ```
 */
export function breakerOpenError(route: string, retryAfterMs: number): ClaudeGuardError {
  const seconds = retryAfterSeconds(retryAfterMs);
  return new ClaudeGuardError({
    status: 503,
    type: 'overloaded_error',
    message: `Claude is unavailable for route '${route}': its circuit breaker is open; retry after ${seconds} s`,
    outcome: 'breaker-open',
    headers: { 'retry-after': seconds },
    attempts: 0,
  });
}

/**
 * An error from outside the guard's own vocabulary, thrown under a guarded call (the handler's
 * own bug, say): a generic 500 that reveals nothing, or 499 when the client had already gone.
 *
 * @example
 * ```ts
 * return internalError('chat', deadline.clientAborted);
 * ```
 */
export function internalError(route: string, clientGone: boolean): ClaudeGuardError {
  return new ClaudeGuardError({
    status: clientGone ? 499 : 500,
    type: 'api_error',
    message: `Internal error in route '${route}'`,
    outcome: clientGone ? 'client-aborted' : 'internal-error',
  });
}

function afterCommit(failure: AttemptFailure): ClaudeGuardError {
  const error = failure.error;
  switch (failure.kind) {
    case 'deadline': {
      const text = error instanceof DeadlineExceededError ? error.message : 'The request deadline ran out';
      return inBand('timeout_error', `${text} while Claude was streaming`, 'deadline-exceeded');
    }
    case 'attempt-timeout':
      return inBand(
        'timeout_error',
        error instanceof AttemptTimeoutError
          ? `The route's attempt timeout (${error.timeoutMs} ms) ran out while Claude was streaming`
          : "The route's attempt timeout ran out while Claude was streaming",
        'attempt-timeout',
      );
    case 'stream-stalled':
      return inBand(
        'timeout_error',
        error instanceof StreamStallError
          ? `Claude's stream stalled: no event for ${error.timeoutMs} ms`
          : "Claude's stream stalled",
        'stream-stalled',
      );
    case 'in-band':
      return inBand(failure.type, `The Claude API failed mid-stream with ${failure.type}`, 'upstream-error');
    case 'malformed': {
      const problem = error instanceof MalformedStreamError ? error.problem : undefined;
      return inBand(
        'api_error',
        problem ? `The Claude API sent ${problem} mid-stream` : 'The Claude API sent a malformed or truncated stream',
        'upstream-error',
      );
    }
    default:
      return inBand('api_error', 'The connection to the Claude API was lost mid-stream', 'upstream-unreachable');
  }
}

function inBand(type: AttemptFailure['type'], message: string, outcome: FailureOutcome): ClaudeGuardError {
  // The status is never sent (the stream's 200 is out); it is the one the type stands for.
  return new ClaudeGuardError({ status: statusForErrorType(type), type, message, outcome });
}

function beforeCommit(
  failure: AttemptFailure,
  wording: Extract<FailureWording, { phase: 'before-commit' }>,
): ClaudeGuardError {
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
        // Kept (never sent) so the guard can log the bug with its stack, once.
        cause: failure.error,
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

/**
 * Admission control's full queue: nobody asked Claude. 503 `overloaded_error` with `retry-after`.
 *
 * @example
 * ```ts
 * throw queueFullError('chat', 'chat', 4, 1_000);
 * ```
 */
export function queueFullError(route: string, queue: string, maxQueue: number, retryAfterMs: number): ClaudeGuardError {
  const seconds = retryAfterSeconds(retryAfterMs);
  return new ClaudeGuardError({
    status: 503,
    type: 'overloaded_error',
    message:
      `Route '${route}' is at its concurrency limit and its queue '${queue}' is full (${maxQueue} waiting); ` +
      `Claude was not called; retry after ${seconds} s`,
    outcome: 'queue-full',
    headers: { 'retry-after': seconds },
    attempts: 0,
  });
}

/**
 * The deadline ran out while the request waited in the queue: 504 `timeout_error` naming the queue.
 *
 * @example
 * ```ts
 * throw queueTimeoutError('chat', 'chat', 1_200);
 * ```
 */
export function queueTimeoutError(route: string, queue: string, waitedMs: number): ClaudeGuardError {
  return new ClaudeGuardError({
    status: 504,
    type: 'timeout_error',
    message:
      `The request deadline ran out after ${Math.round(waitedMs)} ms in the queue '${queue}' of route '${route}'; ` +
      'Claude was not called',
    outcome: 'queue-timeout',
    attempts: 0,
  });
}

/**
 * Admission control's rate-limit or spend-limit hold: 429 `rate_limit_error` with `retry-after`. The
 * message is the tracker's (it names the limit, or carries the upstream's redacted spend-limit message).
 *
 * @example
 * ```ts
 * throw heldError('spend-limit', 'The organization reached its spend limit; ...', 60_000);
 * ```
 */
export function heldError(
  reason: 'rate-limit' | 'paused' | 'spend-limit',
  message: string,
  retryAfterMs: number,
): ClaudeGuardError {
  const seconds = retryAfterSeconds(retryAfterMs);
  return new ClaudeGuardError({
    status: 429,
    type: 'rate_limit_error',
    message: `${message}; Claude was not called; retry after ${seconds} s`,
    outcome: reason === 'spend-limit' ? 'spend-limit' : 'rate-limited',
    headers: { 'retry-after': seconds },
    attempts: 0,
  });
}

import type { AttemptFailure } from './classify.js';
import type { AttemptFailureInfo } from './instrumentation.js';

/**
 * Why an attempt failed, as one bounded word (the `retry` event's `reason`): the Anthropic error
 * type of an upstream answer (`overloaded_error`, `rate_limit_error`, `api_error`, ...), else the
 * failure's kind (`connection`, `attempt-timeout`, `stream-stalled`, `malformed`, ...). A 529 and a
 * lost connection both retry, but they are different alerts.
 *
 * @example
 * ```ts
 * failureReason(failure); // 'overloaded_error' for a 529, 'connection' for a reset socket
 * ```
 */
export function failureReason(failure: Pick<AttemptFailure, 'kind' | 'type'>): string {
  return failure.kind === 'http' || failure.kind === 'in-band' ? failure.type : failure.kind;
}

/**
 * What an attempt span is told of its failure: only the classification, never a message.
 *
 * @example
 * ```ts
 * attemptSpan.end(failureInfo(failure)); // { kind: 'http', errorType: 'overloaded_error', status: 529 }
 * ```
 */
export function failureInfo(failure: Pick<AttemptFailure, 'kind' | 'type' | 'status'>): AttemptFailureInfo {
  return { kind: failure.kind, errorType: failure.type, status: failure.status };
}

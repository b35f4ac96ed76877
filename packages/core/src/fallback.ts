import type { ClaudeClient, MessageCreateParams } from './claude-client.js';
import { classifyFailure } from './classify.js';
import type { Deadline } from './deadline.js';
import { failureInfo } from './failure-reason.js';
import { isClaudeGuardError, type ClaudeGuardError } from './guard-error.js';
import { isMessage } from './message-body.js';
import type { RequestRecord } from './request-record.js';

/**
 * What the fallback is told.
 *
 * @example
 * ```ts
 * fallback: ({ reason, route }) => ({ type: 'message', role: 'assistant', content: [{ type: 'text', text: `${route}: ${reason}` }] })
 * ```
 */
export interface FallbackContext {
  route: string;
  reason: 'breaker-open' | 'exhausted';
  error: ClaudeGuardError;
  /** The call's parameters, when the call went through `messages.create` or the passthrough. */
  params: MessageCreateParams | undefined;
  signal: AbortSignal;
}

/**
 * A route's plan B for non-streaming calls: retry once on another model, outside the route's
 * breaker, or compute an answer yourself (its return value is the response body).
 *
 * @example
 * ```ts
 * claudeGuard(guard, { route: 'summarize', fallback: { model: 'claude-haiku-4-5' } });
 * claudeGuard(guard, { route: 'tips', fallback: () => ({ type: 'message', role: 'assistant', content: [] }) });
 * ```
 */
export type RouteFallback = { model: string } | ((context: FallbackContext) => unknown);

// The failures a fallback answers: the breaker refused, or the upstream could not give an answer.
const FALLBACK_OUTCOMES: ReadonlySet<string> = new Set([
  'breaker-open',
  'upstream-error',
  'upstream-unreachable',
  'attempt-timeout',
  'stream-stalled',
  'retry-budget-exhausted',
]);

/** What the fallback of one failed non-streaming call works with. */
export interface FallbackInput {
  readonly route: string;
  readonly fallback: RouteFallback | undefined;
  readonly client: ClaudeClient;
  readonly params: MessageCreateParams;
  readonly deadline: Deadline;
  readonly record: Pick<
    RequestRecord,
    'setOutcome' | 'answeredBy' | 'recordUsage' | 'attempts' | 'startAttemptSpan' | 'messageAnswered'
  >;
}

/**
 * The route's plan B for a non-streaming call that failed with `error`: the fallback's answer (its
 * outcome recorded as `fallback`), or `error` thrown again when there is no fallback, when the
 * failure is not one a fallback answers (the caller's own fault, the caller's deadline or
 * disconnect), or when the alternate model's answer is no Message either. The alternate model gets
 * one attempt, outside the route's breaker, inside the deadline.
 *
 * @param error - The call's failure (a `ClaudeGuardError` from the retry policy).
 * @param input - The route's fallback, the call and its record.
 * @returns The answer's body.
 *
 * @example
 * ```ts
 * const data = await runFallback(error, { route: 'chat', fallback, client, params, deadline, record });
 * ```
 */
export async function runFallback(error: unknown, input: FallbackInput): Promise<unknown> {
  const { fallback, deadline, record } = input;
  if (!fallback || !isClaudeGuardError(error) || !FALLBACK_OUTCOMES.has(error.outcome) || deadline.signal.aborted) {
    throw error;
  }
  if (typeof fallback === 'function') {
    const context: FallbackContext = {
      route: input.route,
      reason: error.outcome === 'breaker-open' ? 'breaker-open' : 'exhausted',
      error,
      params: input.params,
      signal: deadline.signal,
    };
    record.setOutcome('fallback');
    return await fallback(context);
  }
  // The alternate model's call is an attempt of its own in traces (a span only with instrumentation).
  const span = record.startAttemptSpan(record.attempts, fallback.model);
  try {
    const create = () =>
      input.client.messages.create(
        { ...input.params, model: fallback.model },
        { signal: deadline.signal, timeout: Math.max(1, deadline.remaining()), maxRetries: 0 },
      );
    const message: unknown = await (span === undefined ? create() : span.run(create));
    // The alternate model's answer is checked like the route's own: anything else is no fallback.
    if (!isMessage(message)) {
      span?.end({ kind: 'malformed', errorType: 'api_error', status: undefined });
      throw error;
    }
    record.messageAnswered(message);
    span?.end();
    record.setOutcome('fallback');
    record.answeredBy(fallback.model);
    record.recordUsage(message.usage);
    return message;
  } catch (failure) {
    // Only the kind and type are read for the span (the clock matters to retry-after alone).
    span?.end(failureInfo(classifyFailure(failure, { deadline, countRateLimits: false, now: Date.now })));
    throw error;
  }
}

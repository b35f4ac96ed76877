import type { MessageCreateParams } from './claude-client.js';
import { sendMessage } from './create-message.js';
import type { Deadline } from './deadline.js';
import type { FallbackContext, RouteFallback } from './fallback-options.js';
import { fallbackReason, type FallbackChain } from './fallback-targets.js';
import type { ClaudeGuardError } from './guard-error.js';
import type { RequestRecord } from './request-record.js';

export type { FallbackContext, RouteFallback } from './fallback-options.js';

/** What the fallback of one failed non-streaming call works with. */
export interface FallbackInput {
  readonly route: string;
  readonly fallback: RouteFallback | undefined;
  /** The route's targets, built at mount; `undefined` when its fallback is none or a function. */
  readonly chain: FallbackChain | undefined;
  readonly params: MessageCreateParams;
  readonly deadline: Deadline;
  readonly secrets: readonly string[];
  readonly record: Pick<
    RequestRecord,
    | 'requestId'
    | 'attemptStarted'
    | 'startAttemptSpan'
    | 'upstreamAnswered'
    | 'messageAnswered'
    | 'setOutcome'
    | 'answeredBy'
    | 'answeredWith'
    | 'recordUsage'
  >;
}

/** A fallback's answer: its body, the upstream response it came in (a target's), the model that gave it. */
export interface FallbackAnswer {
  readonly data: unknown;
  readonly response: Response | undefined;
  readonly model: string | undefined;
}

/**
 * The route's plan B for a non-streaming call that failed with `error`: the fallback's answer (its
 * outcome recorded as `fallback`), or `error` thrown again when there is no fallback, when the
 * failure is not one a fallback answers (the caller's own fault, the caller's deadline or
 * disconnect), or when no target answers with a Message either. Each target gets its own attempts
 * (default one), under its own breaker, inside the deadline.
 *
 * @param error - The call's failure (a `ClaudeGuardError` from the retry policy).
 * @param input - The route's fallback, the call and its record.
 * @returns The answer.
 *
 * @example
 * ```ts
 * const { data } = await runFallback(error, { route: 'chat', fallback, chain, params, deadline, secrets, record });
 * ```
 */
export async function runFallback(error: unknown, input: FallbackInput): Promise<FallbackAnswer> {
  const { fallback, deadline, record } = input;
  const reason = fallbackReason(error, deadline);
  if (!fallback || reason === undefined) throw error;
  if (typeof fallback === 'function') {
    const context: FallbackContext = {
      route: input.route,
      reason,
      error: error as ClaudeGuardError,
      params: input.params,
      signal: deadline.signal,
    };
    record.setOutcome('fallback');
    return { data: await fallback(context), response: undefined, model: undefined };
  }
  if (!input.chain) throw error;
  // sendMessage checks the answer is a Message, as for the route's own attempts.
  const served = await input.chain.serve(
    error,
    { deadline, record },
    false,
    (target) => (context) =>
      // Not told to the rate-limit tracker: it reads the route's own calls through the guard's client.
      sendMessage(
        target.client,
        { ...input.params, model: target.model },
        undefined,
        record,
        undefined,
        input.secrets,
        context,
      ),
  );
  const message = served.value;
  record.setOutcome('fallback');
  record.answeredBy(served.target.model);
  record.answeredWith(message.upstreamRequestId);
  record.recordUsage(message.data.usage);
  return { data: message.data, response: message.response, model: served.target.model };
}

import type { UpstreamAnswers } from './admission.js';
import type { ClaudeClient, ClaudeRequestOptions, MessageCreateParams } from './claude-client.js';
import { sendMessage, type MessageAnswer } from './create-message.js';
import type { HedgeLeg } from './hedge.js';
import type { RequestRecord } from './request-record.js';
import type { AttemptContext } from './retry-loop.js';

/**
 * The response header naming the fallback model that answered (streams and non-streaming calls).
 *
 * @example
 * ```ts
 * if (response.headers.get(FALLBACK_HEADER)) metrics.increment('served_by_fallback');
 * ```
 */
export const FALLBACK_HEADER = 'x-claude-guard-fallback';

/**
 * One non-streaming attempt as a hedge leg: it answers first when its 2xx response headers are in
 * (the SDK's `asResponse()` resolves only for a 2xx), and fails first when the call fails before them.
 *
 * @param client - The Anthropic client.
 * @param params - The call's parameters.
 * @param options - The caller's own request options, if any.
 * @param record - Where the upstream's answer is reported.
 * @param rateLimits - Where the rate-limit tracker hears the answer; `undefined`: nowhere.
 * @param secrets - Kept out of the upstream id.
 * @param context - The leg's signal and timeout.
 * @returns The leg.
 *
 * @example
 * ```ts
 * hedger.run((leg) => messageLeg(client, params, undefined, record, answers, secrets, leg), context, call);
 * ```
 */
export function messageLeg(
  client: ClaudeClient,
  params: MessageCreateParams,
  options: ClaudeRequestOptions | undefined,
  record: Pick<RequestRecord, 'upstreamAnswered' | 'messageAnswered'>,
  rateLimits: UpstreamAnswers | undefined,
  secrets: readonly string[],
  context: AttemptContext,
): HedgeLeg<MessageAnswer> {
  let headersIn!: () => void;
  const headers = new Promise<void>((resolve) => {
    headersIn = resolve;
  });
  const tap: Pick<RequestRecord, 'upstreamAnswered' | 'messageAnswered'> = {
    upstreamAnswered(upstreamRequestId, status) {
      record.upstreamAnswered(upstreamRequestId, status);
      headersIn();
    },
    messageAnswered: (message) => record.messageAnswered(message),
  };
  const answer = sendMessage(client, params, options, tap, rateLimits, secrets, context);
  // Whichever comes first: the headers (this leg answered), or the call's failure before them.
  const first = Promise.race([headers, answer.then(() => undefined)]);
  return { first, answer, done: answer };
}

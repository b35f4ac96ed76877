import type { UpstreamAnswers } from './admission.js';
import type { ClaudeClient, ClaudeMessage, ClaudeRequestOptions, MessageCreateParams } from './claude-client.js';
import { isBodyDecodeFailure, isMessage, MalformedMessageError } from './message-body.js';
import type { RequestRecord } from './request-record.js';
import type { AttemptContext } from './retry-loop.js';
import { attemptOptions } from './signal-lane.js';
import { upstreamRequestId } from './upstream-headers.js';

/**
 * One non-streaming `messages.create` and the upstream response it came in (its headers are
 * forwarded by the passthrough).
 */
export interface MessageAnswer {
  data: ClaudeMessage;
  response: Response;
  /** The upstream's `request-id` header, validated (`upstreamRequestId`): `undefined` when absent or unfit. */
  upstreamRequestId: string | undefined;
}

/**
 * One attempt of a non-streaming call: the SDK's `messages.create` with the attempt's signal and
 * timeout and `maxRetries: 0` (the guard owns retries), reporting the upstream's answer (its
 * headers' time and request id) into the record as soon as its headers are in, and to the
 * rate-limit tracker (its headers or its failure, then the message's usage). A 2xx body that is
 * not a Message, or that cannot be read as one, is the upstream's failure, thrown as
 * {@link MalformedMessageError}: retried, counted by the breaker, never passed on. (Positional
 * parameters: the caller's closure needs no input object per call.)
 *
 * @param client - The Anthropic client.
 * @param params - The call's parameters.
 * @param options - The caller's own request options, if any (its signal is honoured too).
 * @param record - Where the upstream's answer is reported.
 * @param rateLimits - Where the rate-limit tracker hears the answer; `undefined`: nowhere (rate limits
 *   off, or a fallback target's attempt: the tracker reads the route's own calls only).
 * @param secrets - Kept out of the upstream id.
 * @param context - The attempt's signal and timeout.
 * @returns The Message and the upstream response.
 *
 * @example
 * ```ts
 * await policy.execute((context) => sendMessage(client, params, undefined, record, answers, secrets, context), call, SDK_CALL);
 * ```
 */
export async function sendMessage(
  client: ClaudeClient,
  params: MessageCreateParams,
  options: ClaudeRequestOptions | undefined,
  record: Pick<RequestRecord, 'upstreamAnswered' | 'messageAnswered'>,
  rateLimits: UpstreamAnswers | undefined,
  secrets: readonly string[],
  context: AttemptContext,
): Promise<MessageAnswer> {
  // Before sending: the ticket the message's usage reconciles (admission already debited the estimate).
  const ticket = rateLimits?.ticket(params);
  const pending = client.messages.create(params, attemptOptions(client, context.signal, context.timeout, options));
  // The upstream answered once its headers are in, even if its body then fails (cut off, not JSON).
  // The response and its id are taken here once (`withResponse()` would read them again).
  let response: Response | undefined;
  let upstreamId: string | undefined;
  const status = pending.asResponse().then((answered) => {
    response = answered;
    upstreamId = upstreamRequestId(answered.headers.get('request-id'), secrets);
    record.upstreamAnswered(upstreamId, answered.status);
    rateLimits?.answered(answered);
    return answered.status;
  }, noUpstreamStatus);
  let data: unknown;
  try {
    data = await pending;
  } catch (error) {
    // The SDK's APIError (a 429's retry-after, a spend limit's message) or a failure with nothing to read.
    rateLimits?.failed(error);
    throw await asBodyFault(error, status);
  }
  // The body is read after the headers: the tap above has run by now, unless a wrapper's promise did not wait.
  if (response === undefined) await status;
  // The SDK hands back any 2xx body: a page as a string, `[]`, `null`. Only a Message is an answer.
  if (!isMessage(data)) throw new MalformedMessageError('not-a-message', response?.status);
  // To the attempt's span, if any (its id, model, stop reason and usage; never its content).
  record.messageAnswered(data);
  if (ticket !== undefined) rateLimits!.reconcile(ticket, data.usage);
  return { data, response: response!, upstreamRequestId: upstreamId };
}

const noUpstreamStatus = (): undefined => undefined;

/**
 * A body the upstream sent that cannot be read as a Message is the upstream's failure (retried,
 * counted by the breaker), never the caller's: not JSON (the SDK's `SyntaxError`) or a
 * `content-encoding` that does not decode. Every other error is left as it is.
 */
async function asBodyFault(error: unknown, status: Promise<number | undefined>): Promise<unknown> {
  if (error instanceof SyntaxError) return new MalformedMessageError('not-a-message', await status);
  if (isBodyDecodeFailure(error)) return new MalformedMessageError('undecodable', await status);
  return error;
}

/**
 * A message as the fake accepts it: the shape the real API requires, with content left loosely typed.
 *
 * @example
 * ```ts
 * const message: RequestMessage = { role: 'user', content: 'Hello' };
 * ```
 */
export type RequestMessage = { readonly role: 'user' | 'assistant'; readonly content: string | readonly unknown[] };

/**
 * A `POST /v1/messages` body that passed validation.
 *
 * @example
 * ```ts
 * const body: MessagesRequest = { model: 'claude-sonnet-5', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] };
 * ```
 */
export type MessagesRequest = {
  readonly model: string;
  readonly max_tokens: number;
  readonly messages: readonly RequestMessage[];
  readonly system?: unknown;
  readonly stream?: boolean;
};

/**
 * The outcome of validating a body: the typed request, or the message of the 400 to send.
 *
 * @example
 * ```ts
 * const result: Validation<MessagesRequest> = validateMessagesRequest(body);
 * if (!result.ok) console.log(result.message); // 'max_tokens: Field required'
 * ```
 */
export type Validation<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/**
 * Checks a parsed `POST /v1/messages` body the way the real API does, naming the first bad field in the
 * API's own style (`max_tokens: Field required`).
 *
 * @param body - the parsed JSON body
 * @returns the typed request or the error message
 * @example
 * ```ts
 * validateMessagesRequest({ model: 'claude-sonnet-5', messages: [] });
 * // { ok: false, message: 'max_tokens: Field required' }
 * ```
 */
export function validateMessagesRequest(body: unknown): Validation<MessagesRequest> {
  return validate(body, true) as Validation<MessagesRequest>;
}

/**
 * Checks a `POST /v1/messages/count_tokens` body: like {@link validateMessagesRequest} without `max_tokens`.
 *
 * @param body - the parsed JSON body
 * @returns the typed request (its `max_tokens` is absent) or the error message
 * @example
 * ```ts
 * validateCountTokensRequest({ model: 'claude-haiku-4-5', messages: [{ role: 'user', content: 'Hi' }] }).ok; // true
 * ```
 */
export function validateCountTokensRequest(body: unknown): Validation<Omit<MessagesRequest, 'max_tokens'>> {
  return validate(body, false);
}

function validate(body: unknown, needsMaxTokens: boolean): Validation<Omit<MessagesRequest, 'max_tokens'>> {
  if (!isRecord(body)) return fail('body: Input should be a valid dictionary');

  if (!('model' in body)) return fail('model: Field required');
  if (typeof body.model !== 'string') return fail('model: Input should be a valid string');
  if (body.model === '') return fail('model: String should have at least 1 character');

  // Field order follows the API's: model, then max_tokens, then messages.
  if (needsMaxTokens) {
    if (!('max_tokens' in body)) return fail('max_tokens: Field required');
    const max = body.max_tokens;
    if (typeof max !== 'number' || !Number.isInteger(max)) return fail('max_tokens: Input should be a valid integer');
    if (max < 1) return fail('max_tokens: Input should be greater than or equal to 1');
  }

  if (!('messages' in body)) return fail('messages: Field required');
  const messages = body.messages;
  if (!Array.isArray(messages)) return fail('messages: Input should be a valid list');
  if (messages.length === 0) return fail('messages: at least one message is required');
  for (const [i, message] of messages.entries()) {
    const at = `messages.${i}`;
    if (!isRecord(message)) return fail(`${at}: Input should be a valid dictionary`);
    if (!('role' in message)) return fail(`${at}.role: Field required`);
    if (message.role !== 'user' && message.role !== 'assistant') {
      return fail(`${at}.role: Input should be 'user' or 'assistant'`);
    }
    if (!('content' in message)) return fail(`${at}.content: Field required`);
    const content = message.content;
    if (typeof content === 'string') continue;
    if (!Array.isArray(content)) return fail(`${at}.content: Input should be a valid string or a valid list`);
    for (const [j, block] of content.entries()) {
      if (!isRecord(block)) return fail(`${at}.content.${j}: Input should be a valid dictionary`);
      if (typeof block.type !== 'string') return fail(`${at}.content.${j}.type: Field required`);
      if (block.type === 'text' && typeof block.text !== 'string') {
        return fail(`${at}.content.${j}.text: Field required`);
      }
    }
  }

  if ('stream' in body && body.stream !== undefined && typeof body.stream !== 'boolean') {
    return fail('stream: Input should be a valid boolean');
  }
  return { ok: true, value: body as MessagesRequest };
}

function fail(message: string): { readonly ok: false; readonly message: string } {
  return { ok: false, message };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

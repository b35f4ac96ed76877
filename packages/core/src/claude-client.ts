import type Anthropic from '@anthropic-ai/sdk';

/**
 * What the guard needs of an Anthropic client: only `messages`. Any `new Anthropic(...)` fits,
 * as does a wrapper exposing the same method.
 *
 * @example
 * ```ts
 * const client: ClaudeClient = new Anthropic({ apiKey: process.env.ANTHROPIC_API_KEY });
 * ```
 */
export type ClaudeClient = Pick<Anthropic, 'messages'>;

/**
 * Parameters of a non-streaming `messages.create`.
 *
 * @example
 * ```ts
 * const params: MessageCreateParams = { model: 'claude-sonnet-5', max_tokens: 256, messages: [{ role: 'user', content: 'Hi' }] };
 * ```
 */
export type MessageCreateParams = Anthropic.MessageCreateParamsNonStreaming;
/**
 * Parameters of a streaming `messages.create` (`stream` is set by the guard).
 *
 * @example
 * ```ts
 * const params: MessageStreamParams = { model: 'claude-sonnet-5', max_tokens: 256, messages: [{ role: 'user', content: 'Hi' }] };
 * ```
 */
export type MessageStreamParams = Omit<Anthropic.MessageCreateParamsStreaming, 'stream'>;
/**
 * The SDK's message type.
 *
 * @example
 * ```ts
 * const message: ClaudeMessage = await req.claude.messages.create(params);
 * ```
 */
export type ClaudeMessage = Anthropic.Message;
/** The SDK's per-request options. */
export type ClaudeRequestOptions = Anthropic.RequestOptions;

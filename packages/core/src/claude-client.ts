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

/** Parameters of a non-streaming `messages.create`. */
export type MessageCreateParams = Anthropic.MessageCreateParamsNonStreaming;
/** Parameters of a streaming `messages.create` (`stream` is set by the guard). */
export type MessageStreamParams = Omit<Anthropic.MessageCreateParamsStreaming, 'stream'>;
/** The SDK's message type. */
export type ClaudeMessage = Anthropic.Message;
/** The SDK's per-request options. */
export type ClaudeRequestOptions = Anthropic.RequestOptions;

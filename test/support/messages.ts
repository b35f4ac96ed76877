import type Anthropic from '@anthropic-ai/sdk';
import type { MessageStreamParams } from '@claude-guard/core';

/** The model every request asks for unless a test says otherwise. */
export const MODEL = 'claude-sonnet-5';
/** The model a route falls back to in the tests that configure one. */
export const FALLBACK_MODEL = 'claude-haiku-4-5';
/** A prompt whose words are easy to spot in a reply, and must never reach a log line. */
export const PROMPT = 'zebra quokka narwhal';

/**
 * The request every streaming test sends unless it needs another one.
 *
 * @example
 * ```ts
 * await h.post('/v1/messages', { ...params(), stream: true });
 * ```
 */
export function params(content = 'the quick brown fox jumps over the lazy dog', maxTokens = 4096): MessageStreamParams {
  return { model: MODEL, max_tokens: maxTokens, messages: [{ role: 'user', content }] };
}

/**
 * A valid Messages API body asking about {@link PROMPT}, with `overrides` spread over it.
 *
 * @example
 * ```ts
 * await h.proxy({}, { max_tokens: 0 }); // messagesBody({ max_tokens: 0 })
 * ```
 */
export function messagesBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, max_tokens: 50, messages: [{ role: 'user', content: PROMPT }], ...overrides };
}

/**
 * The text of a Message: its text blocks, joined.
 *
 * @example
 * ```ts
 * res.json({ text: textOf(await req.claude.messages.create(params)) });
 * ```
 */
export function textOf(message: Pick<Anthropic.Message, 'content'>): string {
  return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

/**
 * The fake's reply to `prompt` when it answers `words` words (`replyWords` capped by `max_tokens`):
 * the prompt's words, cycled.
 *
 * @example
 * ```ts
 * expectedReply('a b', 3); // 'a b a'
 * ```
 */
export function expectedReply(prompt: string, words: number): string {
  const pool = prompt.split(/\s+/).filter((word) => word !== '');
  return Array.from({ length: words }, (_, i) => pool[i % pool.length]!).join(' ');
}

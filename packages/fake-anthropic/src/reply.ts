import type { MessagesRequest, RequestMessage } from './validate-request.js';

/**
 * The deterministic answer to one request.
 *
 * @example
 * ```ts
 * const reply: Reply = buildReply(request, 12);
 * reply.deltas.join('') === reply.text; // true
 * ```
 */
export type Reply = {
  /** The whole text, words separated by single spaces. */
  readonly text: string;
  /** One entry per `content_block_delta`: the first word, then each following word with its leading space. */
  readonly deltas: readonly string[];
  readonly stopReason: 'end_turn' | 'max_tokens';
  readonly inputTokens: number;
  readonly outputTokens: number;
};

// Used when the last user turn carries no text (only images or tool results), so there is always a reply.
const FALLBACK_WORDS = ['Hello', 'from', 'fake-anthropic.'];

/**
 * Builds the reply: the words of the last user message's text, cycled or truncated to `replyWords`, and
 * never more words than `max_tokens`. One word counts as one token, for input and output alike.
 *
 * @param request - a validated messages request
 * @param replyWords - how many words to answer with
 * @returns the reply and its usage
 * @example
 * ```ts
 * buildReply({ model: 'claude-sonnet-5', max_tokens: 100, messages: [{ role: 'user', content: 'a b c' }] }, 5).text;
 * // 'a b c a b'
 * ```
 */
export function buildReply(request: MessagesRequest, replyWords: number): Reply {
  const lastUser = [...request.messages].reverse().find((m) => m.role === 'user');
  const source = lastUser === undefined ? [] : words(messageText(lastUser));
  const pool = source.length > 0 ? source : FALLBACK_WORDS;
  const count = Math.min(replyWords, request.max_tokens);
  const chosen = Array.from({ length: count }, (_, i) => pool[i % pool.length] as string);
  return {
    text: chosen.join(' '),
    deltas: chosen.map((word, i) => (i === 0 ? word : ` ${word}`)),
    stopReason: request.max_tokens < replyWords ? 'max_tokens' : 'end_turn',
    inputTokens: countInputTokens(request),
    outputTokens: count,
  };
}

/**
 * Counts the words of the system prompt and of every message's text: the fake's token count.
 *
 * @param request - a validated request (only `system` and `messages` are read)
 * @returns the number of input tokens
 * @example
 * ```ts
 * countInputTokens({ system: 'Be brief.', messages: [{ role: 'user', content: 'Hello there' }] }); // 4
 * ```
 */
export function countInputTokens(request: Pick<MessagesRequest, 'system' | 'messages'>): number {
  const system = typeof request.system === 'string' ? request.system : blocksText(request.system);
  return request.messages.reduce((sum, m) => sum + words(messageText(m)).length, words(system).length);
}

function messageText(message: RequestMessage): string {
  return typeof message.content === 'string' ? message.content : blocksText(message.content);
}

function blocksText(blocks: unknown): string {
  if (!Array.isArray(blocks)) return '';
  return blocks
    .map((block: unknown) =>
      typeof block === 'object' && block !== null && 'text' in block && typeof block.text === 'string'
        ? block.text
        : '',
    )
    .join(' ');
}

function words(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== '');
}

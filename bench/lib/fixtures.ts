import type Anthropic from '@anthropic-ai/sdk';

export const MODEL = 'claude-sonnet-5';

/** The non-streaming call every chat route makes. */
export function chatParams(text: string): Anthropic.MessageCreateParamsNonStreaming {
  return { model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }] };
}

export function textOf(message: Anthropic.Message): string {
  return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

/** The body of a streaming `POST /v1/messages` from the end user. */
export function streamBody(maxTokens = 64): string {
  return JSON.stringify({
    model: MODEL,
    max_tokens: maxTokens,
    stream: true,
    messages: [{ role: 'user', content: 'stream this bench reply word by word please' }],
  });
}

export const CHAT_BODY = JSON.stringify({ message: 'hello bench' });
export const JSON_HEADERS = { 'content-type': 'application/json' } as const;

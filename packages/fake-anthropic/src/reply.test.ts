import { describe, expect, it } from 'vitest';
import { buildReply, countInputTokens } from './reply.js';
import type { MessagesRequest } from './validate-request.js';

const request = (content: MessagesRequest['messages'][number]['content'], maxTokens = 100): MessagesRequest => ({
  model: 'claude-sonnet-5',
  max_tokens: maxTokens,
  messages: [
    { role: 'user', content: 'first turn is ignored' },
    { role: 'assistant', content: 'sure' },
    { role: 'user', content },
  ],
});

describe('buildReply', () => {
  it('cycles the last user message to the configured length', () => {
    const reply = buildReply(request('one two three'), 7);
    expect(reply.text).toBe('one two three one two three one');
    expect(reply.deltas).toEqual(['one', ' two', ' three', ' one', ' two', ' three', ' one']);
    expect(reply.outputTokens).toBe(7);
    expect(reply.stopReason).toBe('end_turn');
  });

  it('truncates long messages and stops at max_tokens', () => {
    expect(buildReply(request('a b c d e f'), 3).text).toBe('a b c');
    const capped = buildReply(request('a b c d e f', 2), 3);
    expect(capped.text).toBe('a b');
    expect(capped.stopReason).toBe('max_tokens');
  });

  it('reads text blocks and falls back when there is no text', () => {
    expect(buildReply(request([{ type: 'text', text: 'from blocks' }]), 2).text).toBe('from blocks');
    expect(buildReply(request([{ type: 'image', source: {} }]), 3).text).toBe('Hello from fake-anthropic.');
  });

  it('counts input words across system and every message', () => {
    expect(countInputTokens({ system: 'Be brief.', messages: [{ role: 'user', content: 'Hello there' }] })).toBe(4);
    expect(buildReply(request('x y'), 1).inputTokens).toBe(4 + 1 + 2);
    expect(
      countInputTokens({ system: [{ type: 'text', text: 'a b' }], messages: [{ role: 'user', content: ' c ' }] }),
    ).toBe(3);
  });
});

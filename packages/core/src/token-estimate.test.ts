import { describe, expect, it } from 'vitest';
import {
  estimateInputTokens,
  MEDIA_BLOCK_TOKENS,
  MESSAGE_OVERHEAD_TOKENS,
  TOOLS_OVERHEAD_TOKENS,
} from './token-estimate.js';

const user = (content: unknown) => ({ role: 'user', content });

// About 950 characters of ordinary English prose.
const PROSE =
  'The committee met on Tuesday to review the quarterly results, which showed a modest increase in revenue ' +
  'and a sharper rise in operating costs. Several members asked whether the new logistics contract had ' +
  'delivered the savings promised last spring; the finance lead answered that most of the benefit would ' +
  'appear only in the second half of the year, once the old warehouse leases expire. A long discussion ' +
  'followed about hiring: the engineering group wants four more people, while sales argues that two ' +
  'additional account managers would pay for themselves within months. No decision was taken, but the ' +
  'chair asked both teams to bring a short written case to the next meeting, with numbers, risks and a ' +
  'fallback plan. The meeting closed with a reminder that the annual survey is open until Friday and that ' +
  'everyone should complete it, since last year only half of the staff responded, which made the results ' +
  'hard to act on in any meaningful way.';

describe('estimateInputTokens', () => {
  it('follows its documented formula', () => {
    const body = {
      model: 'claude-sonnet-5',
      max_tokens: 256,
      system: 'Be brief.',
      messages: [user('Summarize the attached report in three bullet points.')],
    };
    // (9 + 53) / 3.5 = 17.7 -> 18, plus one message.
    expect(estimateInputTokens(body)).toBe(18 + MESSAGE_OVERHEAD_TOKENS);
  });

  it('lands between 1 token per 5 and per 3 characters of prose, leaning high', () => {
    expect(PROSE.length).toBeGreaterThan(900);
    const estimate = estimateInputTokens({ messages: [user(PROSE)] });
    expect(estimate).toBeGreaterThan(PROSE.length / 5);
    expect(estimate).toBeLessThan(PROSE.length / 3);
    // Ten times the text, ten times the estimate (give or take rounding and the message overhead).
    const long = estimateInputTokens({ messages: [user(PROSE.repeat(10))] });
    expect(long / estimate).toBeGreaterThan(9.5);
    expect(long / estimate).toBeLessThan(10.5);
  });

  it('counts system blocks, text, thinking, tool_use inputs and tool_result text', () => {
    const body = {
      system: [{ type: 'text', text: 'x'.repeat(35) }],
      messages: [
        user([{ type: 'text', text: 'y'.repeat(70) }]),
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'z'.repeat(35), signature: 'sig' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
          ],
        },
        user([{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'w'.repeat(35) }] }]),
      ],
    };
    const json = JSON.stringify({ city: 'Paris' }).length;
    const text = 35 + 70 + 35 + 'get_weather'.length + 35;
    expect(estimateInputTokens(body)).toBe(Math.ceil(text / 3.5 + json / 4) + 3 * MESSAGE_OVERHEAD_TOKENS);
  });

  it('adds the tools JSON and the tool-use overhead only when tools are defined', () => {
    const tools = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' } }];
    const base = { messages: [user('hi')] };
    expect(estimateInputTokens({ ...base, tools: [] })).toBe(estimateInputTokens(base));
    expect(estimateInputTokens({ ...base, tools })).toBe(
      Math.ceil(2 / 3.5 + JSON.stringify(tools).length / 4) + MESSAGE_OVERHEAD_TOKENS + TOOLS_OVERHEAD_TOKENS,
    );
  });

  it('counts a flat cost per image or binary document, and the text of a text document', () => {
    const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'A'.repeat(50_000) } };
    const pdf = { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBER' } };
    const text = { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'd'.repeat(350) } };
    expect(estimateInputTokens({ messages: [user([image, pdf])] })).toBe(
      2 * MEDIA_BLOCK_TOKENS + MESSAGE_OVERHEAD_TOKENS,
    );
    expect(estimateInputTokens({ messages: [user([text])] })).toBe(100 + MESSAGE_OVERHEAD_TOKENS);
  });

  it('is monotonic: more text, messages, blocks or tools never lower it', () => {
    const bodies: unknown[] = [
      { messages: [] },
      { messages: [user('')] },
      { messages: [user('a')] },
      { messages: [user('a b c d')] },
      { messages: [user('a b c d'), { role: 'assistant', content: 'ok' }] },
      { messages: [user('a b c d'), { role: 'assistant', content: 'ok' }, user([{ type: 'text', text: 'more' }])] },
      {
        system: 'sys',
        messages: [user('a b c d'), { role: 'assistant', content: 'ok' }, user([{ type: 'text', text: 'more' }])],
      },
      {
        system: 'sys',
        messages: [user('a b c d'), { role: 'assistant', content: 'ok' }, user([{ type: 'text', text: 'more' }])],
        tools: [{ name: 't' }],
      },
    ];
    const estimates = bodies.map(estimateInputTokens);
    for (let i = 1; i < estimates.length; i++) expect(estimates[i]).toBeGreaterThanOrEqual(estimates[i - 1]!);
    let previous = 0;
    for (let length = 0; length <= 200; length++) {
      const next = estimateInputTokens({ messages: [user('x'.repeat(length))] });
      expect(next).toBeGreaterThanOrEqual(previous);
      previous = next;
    }
  });

  it('never throws, whatever the shape', () => {
    const nested: Record<string, unknown> = { type: 'tool_result' };
    let inner = nested;
    for (let i = 0; i < 10; i++) {
      const child: Record<string, unknown> = { type: 'tool_result' };
      inner['content'] = [child];
      inner = child;
    }
    const cyclic: Record<string, unknown> = { type: 'tool_use', name: 'x' };
    cyclic['input'] = cyclic;
    for (const body of [
      null,
      42,
      'text',
      [],
      {},
      { messages: 'no' },
      { messages: [null, 5, { content: 7 }, { content: [null, 3, 'bare string', { type: 5 }] }] },
      { system: 5, tools: 'none' },
      { messages: [user([nested])] },
      { messages: [user([cyclic])] },
      { messages: [user([{ type: 'mystery', payload: { n: 1n } }])] },
    ]) {
      expect(Number.isInteger(estimateInputTokens(body))).toBe(true);
    }
    expect(estimateInputTokens(null)).toBe(0);
  });
});

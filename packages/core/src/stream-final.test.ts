import { describe, expect, it } from 'vitest';
import { MessageAssembler } from './stream-final.js';

const START = {
  type: 'message_start',
  message: {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    content: [],
    model: 'claude-sonnet-5',
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 20, output_tokens: 1, cache_read_input_tokens: 5, cache_creation_input_tokens: 0 },
  },
};

function assemble(events: [string, Record<string, unknown>][]) {
  const assembler = new MessageAssembler();
  for (const [name, data] of events) assembler.add(name, data);
  return assembler.result();
}

const blockStart = (index: number, block: Record<string, unknown>): [string, Record<string, unknown>] => [
  'content_block_start',
  { type: 'content_block_start', index, content_block: block },
];
const blockDelta = (index: number, delta: Record<string, unknown>): [string, Record<string, unknown>] => [
  'content_block_delta',
  { type: 'content_block_delta', index, delta },
];
const blockStop = (index: number): [string, Record<string, unknown>] => [
  'content_block_stop',
  { type: 'content_block_stop', index },
];

describe('MessageAssembler', () => {
  it('assembles thinking, text and tool_use blocks, the stop reason and the final usage', () => {
    const message = assemble([
      ['message_start', START],
      blockStart(0, { type: 'thinking', thinking: '', signature: '' }),
      blockDelta(0, { type: 'thinking_delta', thinking: 'Let me ' }),
      blockDelta(0, { type: 'thinking_delta', thinking: 'look.' }),
      blockDelta(0, { type: 'signature_delta', signature: 'sig==' }),
      blockStop(0),
      blockStart(1, { type: 'text', text: '' }),
      blockDelta(1, { type: 'text_delta', text: 'Checking ' }),
      blockDelta(1, { type: 'text_delta', text: 'the weather.' }),
      blockStop(1),
      blockStart(2, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} }),
      blockDelta(2, { type: 'input_json_delta', partial_json: '' }),
      blockDelta(2, { type: 'input_json_delta', partial_json: '{"city": "Par' }),
      blockDelta(2, { type: 'input_json_delta', partial_json: 'is", "days": 3}' }),
      blockStop(2),
      ['ping', { type: 'ping' }],
      [
        'message_delta',
        {
          type: 'message_delta',
          delta: { stop_reason: 'tool_use', stop_sequence: null },
          usage: { output_tokens: 57, input_tokens: null },
        },
      ],
      ['message_stop', { type: 'message_stop' }],
    ]);
    expect(message).toEqual({
      ...START.message,
      content: [
        { type: 'thinking', thinking: 'Let me look.', signature: 'sig==' },
        { type: 'text', text: 'Checking the weather.' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', days: 3 } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 20, output_tokens: 57, cache_read_input_tokens: 5, cache_creation_input_tokens: 0 },
    });
  });

  it('collects citations on a text block', () => {
    const citation = {
      type: 'char_location',
      cited_text: 'x',
      document_index: 0,
      start_char_index: 0,
      end_char_index: 1,
    };
    const message = assemble([
      ['message_start', START],
      blockStart(0, { type: 'text', text: '' }),
      blockDelta(0, { type: 'citations_delta', citation }),
      blockDelta(0, { type: 'text_delta', text: 'cited' }),
    ]);
    expect(message?.content).toEqual([{ type: 'text', text: 'cited', citations: [citation] }]);
  });

  it('keeps what arrived of a stream cut short: the text so far, a tool input only once its JSON is whole', () => {
    const cut = assemble([
      ['message_start', START],
      blockStart(0, { type: 'text', text: '' }),
      blockDelta(0, { type: 'text_delta', text: 'Partial' }),
      blockStart(1, { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }),
      blockDelta(1, { type: 'input_json_delta', partial_json: '{"a": [1, 2' }),
    ]);
    expect(cut).toMatchObject({
      content: [
        { type: 'text', text: 'Partial' },
        { type: 'tool_use', input: {} },
      ],
      stop_reason: null,
      usage: { output_tokens: 1 },
    });
    const whole = assemble([
      ['message_start', START],
      blockStart(0, { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }),
      blockDelta(0, { type: 'input_json_delta', partial_json: '{"a": 1}' }),
    ]);
    expect(whole?.content).toEqual([{ type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } }]);
  });

  it('estimates the output tokens of a stream cut short, never below the count reported', () => {
    const assembler = new MessageAssembler();
    expect(assembler.estimatedOutputTokens()).toBeUndefined();
    for (const [name, data] of [
      ['message_start', START],
      blockStart(0, { type: 'thinking', thinking: '' }),
      blockDelta(0, { type: 'thinking_delta', thinking: 'x'.repeat(35) }),
      blockStart(1, { type: 'text', text: '' }),
      blockDelta(1, { type: 'text_delta', text: 'y'.repeat(35) }),
      blockStart(2, { type: 'tool_use', id: 't', name: 'f', input: {} }),
      blockDelta(2, { type: 'input_json_delta', partial_json: '{"k":"' + 'z'.repeat(34) }),
    ] as [string, Record<string, unknown>][]) {
      assembler.add(name, data);
    }
    // 70 characters of prose (20 tokens) and 40 of JSON (10).
    expect(assembler.estimatedOutputTokens()).toBe(30);
    assembler.add('message_delta', { delta: {}, usage: { output_tokens: 90 } });
    expect(assembler.estimatedOutputTokens()).toBe(90);
  });

  it('has no message before message_start, and ignores what it does not know', () => {
    const assembler = new MessageAssembler();
    assembler.add('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'x' } });
    expect(assembler.result()).toBeUndefined();
    const message = assemble([
      ['message_start', START],
      ['content_block_delta', { index: 5, delta: { type: 'text_delta', text: 'nowhere' } }],
      blockStart(0, { type: 'text', text: '' }),
      blockDelta(0, { type: 'some_future_delta', value: 1 }),
      blockDelta(0, { type: 'text_delta', text: 42 }),
      ['content_block_start', { index: 'x', content_block: null }],
      ['future_event', { type: 'future_event' }],
    ]);
    expect(message?.content).toEqual([{ type: 'text', text: '' }]);
  });

  it('leaves no hole for a block index that never started', () => {
    const message = assemble([['message_start', START], blockStart(1, { type: 'text', text: 'b' })]);
    expect(message?.content).toEqual([{ type: 'text', text: 'b' }]);
  });
});

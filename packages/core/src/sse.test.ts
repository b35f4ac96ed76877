import { describe, expect, it } from 'vitest';
import { SseParseError, SseParser, encodeSseEvent, encodeSseJson, type SseEvent } from './sse.js';

const utf8 = new TextEncoder();
const text = new TextDecoder();
const bytes = (s: string) => utf8.encode(s);

const SAMPLE = [
  'event: message_start',
  'data: {"type":"message_start","message":{"id":"msg_1","content":[]}}',
  '',
  ': keep-alive comment',
  'event: ping',
  'data: {"type": "ping"}',
  '',
  'event: content_block_delta',
  'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Grüße 😀 日本"}}',
  '',
  'event: multi',
  'data: first',
  'data:second',
  'data:  third',
  'id: 7',
  'retry: 100',
  '',
  'event: message_stop',
  'data: {"type":"message_stop"}',
  '',
  '',
].join('\n');

const EXPECTED: SseEvent[] = [
  { event: 'message_start', data: '{"type":"message_start","message":{"id":"msg_1","content":[]}}' },
  { event: 'ping', data: '{"type": "ping"}' },
  {
    event: 'content_block_delta',
    data: '{"type":"content_block_delta","delta":{"type":"text_delta","text":"Grüße 😀 日本"}}',
  },
  { event: 'multi', data: 'first\nsecond\n third' },
  { event: 'message_stop', data: '{"type":"message_stop"}' },
];

function parseChunks(chunks: Uint8Array[], parser = new SseParser()): SseEvent[] {
  const events: SseEvent[] = [];
  for (const chunk of chunks) events.push(...parser.push(chunk));
  events.push(...parser.end());
  return events;
}

function everySplit(input: Uint8Array, check: (events: SseEvent[], at: number) => void): void {
  for (let at = 0; at <= input.length; at++) {
    check(parseChunks([input.subarray(0, at), input.subarray(at)]), at);
  }
}

describe('SseParser', () => {
  it('parses the sample stream in one chunk', () => {
    expect(parseChunks([bytes(SAMPLE)])).toEqual(EXPECTED);
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ])('parses the sample with %s line ends at every split point', (_name, eol) => {
    const input = bytes(SAMPLE.replaceAll('\n', eol));
    everySplit(input, (events, at) => {
      expect(events, `split at byte ${at}`).toEqual(EXPECTED);
    });
  });

  it('parses the sample fed one byte at a time', () => {
    const input = bytes(SAMPLE.replaceAll('\n', '\r\n'));
    const chunks = Array.from(input, (b) => Uint8Array.of(b));
    expect(parseChunks(chunks)).toEqual(EXPECTED);
  });

  it('parses the sample at every pair of split points', () => {
    const input = bytes(SAMPLE.replaceAll('\n', '\r\n').slice(0, 120) + '\r\n\r\n');
    const expected = parseChunks([input]);
    expect(expected.length).toBeGreaterThan(0);
    for (let a = 0; a <= input.length; a++) {
      for (let b = a; b <= input.length; b++) {
        const events = parseChunks([input.subarray(0, a), input.subarray(a, b), input.subarray(b)]);
        expect(events, `split at ${a} and ${b}`).toEqual(expected);
      }
    }
  });

  it('mixes line-end styles in one stream', () => {
    const events = parseChunks([bytes('data: a\r\ndata: b\rdata: c\n\r\nevent: x\rdata: y\r\r')]);
    expect(events).toEqual([
      { event: undefined, data: 'a\nb\nc' },
      { event: 'x', data: 'y' },
    ]);
  });

  it('does not treat CR then LF in the next chunk as two line ends', () => {
    const parser = new SseParser();
    expect(parser.push(bytes('data: a\r'))).toEqual([]);
    expect(parser.push(bytes('\ndata: b\r'))).toEqual([]);
    expect(parser.push(bytes('\n'))).toEqual([]);
    expect(parser.push(bytes('\r\n'))).toEqual([{ event: undefined, data: 'a\nb' }]);
  });

  it('keeps the pending CR across empty chunks', () => {
    const parser = new SseParser();
    parser.push(bytes('data: a\r'));
    parser.push(new Uint8Array(0));
    expect(parser.push(bytes('\n\n'))).toEqual([{ event: undefined, data: 'a' }]);
  });

  it('decodes a multibyte character split across chunks', () => {
    const input = bytes('data: 😀€\n\n');
    const emojiStart = 'data: '.length;
    for (let at = emojiStart + 1; at < emojiStart + 7; at++) {
      const parser = new SseParser();
      expect(parser.push(input.subarray(0, at))).toEqual([]);
      expect(parser.push(input.subarray(at))).toEqual([{ event: undefined, data: '😀€' }]);
    }
  });

  it('replaces invalid UTF-8 with U+FFFD', () => {
    const input = new Uint8Array([...bytes('data: a'), 0xff, 0xc3, ...bytes('b\n\n')]);
    expect(parseChunks([input])).toEqual([{ event: undefined, data: 'a\uFFFD\uFFFDb' }]);
  });

  it('strips one space after the colon only', () => {
    expect(parseChunks([bytes('data:x\n\ndata: x\n\ndata:  x\n\ndata:\tx\n\n')]).map((e) => e.data)).toEqual([
      'x',
      'x',
      ' x',
      '\tx',
    ]);
  });

  it('reads a field without a colon as an empty value', () => {
    expect(parseChunks([bytes('data\ndata\n\n')])).toEqual([{ event: undefined, data: '\n' }]);
    expect(parseChunks([bytes('event\ndata: z\n\n')])).toEqual([{ event: undefined, data: 'z' }]);
  });

  it('dispatches like the SDK: an event name or a data line is enough', () => {
    expect(parseChunks([bytes('event: ping\n\n')])).toEqual([{ event: 'ping', data: '' }]);
    expect(parseChunks([bytes('data:\n\n')])).toEqual([{ event: undefined, data: '' }]);
    expect(parseChunks([bytes('\n\n: only a comment\n\nid: 1\nretry: 5\nfoo: bar\n\nevent:\n\n')])).toEqual([]);
  });

  it('resets the event name after each dispatch', () => {
    expect(parseChunks([bytes('event: a\ndata: 1\n\ndata: 2\n\n')])).toEqual([
      { event: 'a', data: '1' },
      { event: undefined, data: '2' },
    ]);
  });

  it('lets a later event line win', () => {
    expect(parseChunks([bytes('event: a\nevent: b\ndata: 1\n\n')])).toEqual([{ event: 'b', data: '1' }]);
  });

  it('matches field names case-sensitively', () => {
    expect(parseChunks([bytes('Data: 1\nEVENT: x\n\n')])).toEqual([]);
  });

  it('ignores comments, even ones that look like fields', () => {
    expect(parseChunks([bytes(':data: evil\n:event: x\ndata: ok\n\n')])).toEqual([{ event: undefined, data: 'ok' }]);
  });

  it('strips a BOM at the start of the stream only, even when split', () => {
    const input = new Uint8Array([0xef, 0xbb, 0xbf, ...bytes('data: a\n\ndata: \uFEFFb\n\n')]);
    everySplit(input, (events, at) => {
      expect(events, `split at byte ${at}`).toEqual([
        { event: undefined, data: 'a' },
        { event: undefined, data: '\uFEFFb' },
      ]);
    });
  });

  it('discards an event cut off before its blank line at end()', () => {
    const parser = new SseParser();
    expect(parser.push(bytes('event: a\ndata: 1\n\nevent: b\ndata: 2\n'))).toEqual([{ event: 'a', data: '1' }]);
    expect(parser.end()).toEqual([]);
    // end() resets, so the half event does not leak into the next stream.
    expect(parser.push(bytes('data: 3\n\n'))).toEqual([{ event: undefined, data: '3' }]);
  });

  it('discards an unterminated last line at end()', () => {
    const parser = new SseParser();
    parser.push(bytes('data: 1\n\ndata: partial'));
    expect(parser.end()).toEqual([]);
    expect(parser.bufferedBytes).toBe(0);
  });

  it('reports the bytes of the pending event', () => {
    const parser = new SseParser();
    expect(parser.bufferedBytes).toBe(0);
    parser.push(bytes('event: a\nda'));
    expect(parser.bufferedBytes).toBe(11);
    parser.push(bytes('ta: 1\n'));
    expect(parser.bufferedBytes).toBe(17);
    parser.push(bytes('\n'));
    expect(parser.bufferedBytes).toBe(0);
  });

  it('throws SseParseError when one event exceeds maxEventBytes', () => {
    const parser = new SseParser({ maxEventBytes: 32 });
    expect(parser.push(bytes(`data: ${'x'.repeat(24)}\n\n`))).toHaveLength(1); // 31 bytes: fits
    expect(() => parser.push(bytes(`data: ${'x'.repeat(40)}`))).toThrow(SseParseError);
    expect(() => parser.push(bytes('\n\n'))).toThrow(SseParseError); // stays failed
  });

  it('counts every line of an event, across chunks, towards the limit', () => {
    const parser = new SseParser({ maxEventBytes: 100 });
    for (let i = 0; i < 8; i++) parser.push(bytes('data: 12345\n')); // 12 bytes each, 96 so far
    expect(parser.bufferedBytes).toBe(96);
    expect(() => parser.push(bytes('data: 12345\n'))).toThrow(/maxEventBytes \(100 bytes\)/);
  });

  it('bounds an endless line without a terminator', () => {
    const parser = new SseParser({ maxEventBytes: 1024 });
    const chunk = new Uint8Array(256).fill(0x61);
    let error: unknown;
    let pushed = 0;
    try {
      for (; pushed < 100; pushed++) parser.push(chunk);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SseParseError);
    expect((error as Error).name).toBe('SseParseError');
    expect(pushed).toBe(4);
  });

  it('defaults maxEventBytes to 1 MiB', () => {
    const parser = new SseParser();
    const big = `data: ${'x'.repeat(1024 * 1024 - 8)}\n\n`; // exactly 1 MiB
    expect(parser.push(bytes(big))[0]?.data).toHaveLength(1024 * 1024 - 8);
    expect(() => parser.push(bytes(`data: ${'x'.repeat(1024 * 1024)}`))).toThrow(SseParseError);
  });

  it('recovers with end() after an error', () => {
    const parser = new SseParser({ maxEventBytes: 10 });
    expect(() => parser.push(bytes('data: 123456789'))).toThrow(SseParseError);
    parser.end();
    expect(parser.push(bytes('data: 1\n\n'))).toEqual([{ event: undefined, data: '1' }]);
  });

  it.each([0, -1, 1.5, Number.NaN, Infinity])('rejects maxEventBytes %d', (maxEventBytes) => {
    expect(() => new SseParser({ maxEventBytes })).toThrow(/options\.maxEventBytes/);
  });

  it('handles a large event reassembled from many chunks', () => {
    const payload = 'y'.repeat(200_000);
    const input = bytes(`event: big\ndata: ${payload}\n\nevent: next\ndata: 1\n\n`);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < input.length; i += 1000) chunks.push(input.subarray(i, i + 1000));
    expect(parseChunks(chunks)).toEqual([
      { event: 'big', data: payload },
      { event: 'next', data: '1' },
    ]);
  });
});

describe('encodeSseEvent', () => {
  it('writes event, data and a blank line', () => {
    expect(text.decode(encodeSseEvent('message_stop', '{"type":"message_stop"}'))).toBe(
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    );
  });

  it('splits data on every kind of line break so nothing can be injected', () => {
    expect(text.decode(encodeSseEvent('error', 'a\nevent: x'))).toBe('event: error\ndata: a\ndata: event: x\n\n');
    expect(text.decode(encodeSseEvent('e', 'a\r\nb\rc\n\nd'))).toBe(
      'event: e\ndata: a\ndata: b\ndata: c\ndata: \ndata: d\n\n',
    );
  });

  it('round-trips through the parser as a single event', () => {
    for (const data of ['a\nevent: x', 'a\r\n\r\nevent: x\r\ndata: y', '', ' lead', '\n', 'x\r', 'ünï 😀']) {
      const events = parseChunks([encodeSseEvent('msg', data)]);
      expect(events).toEqual([{ event: 'msg', data: data.replace(/\r\n|\r/g, '\n') }]);
    }
  });

  it.each(['a\nb', 'a\rb', 'x\r\n'])('rejects an event name %j containing CR or LF', (name) => {
    expect(() => encodeSseEvent(name, 'd')).toThrow(TypeError);
  });
});

describe('encodeSseJson', () => {
  it('encodes JSON on one data line', () => {
    const value = { type: 'error', error: { type: 'api_error', message: 'line1\nline2\r' } };
    const encoded = text.decode(encodeSseJson('error', value));
    expect(encoded).toBe(`event: error\ndata: ${JSON.stringify(value)}\n\n`);
    expect(encoded.split('\n')).toHaveLength(4);
    const events = parseChunks([encodeSseJson('error', value)]);
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.data)).toEqual(value);
  });

  it.each([undefined, () => 1, Symbol('s')])('rejects a value without JSON form: %s', (value) => {
    expect(() => encodeSseJson('x', value)).toThrow(TypeError);
  });

  it('rejects a bad event name', () => {
    expect(() => encodeSseJson('a\nb', {})).toThrow(TypeError);
  });
});

describe('SseParser.pushUpTo', () => {
  it('stops right after the requested number of events and says how far it read', () => {
    const parser = new SseParser();
    const chunk = bytes('event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: c\ndata: 3\n\n');

    const first = parser.pushUpTo(chunk, 2);
    expect(first.events).toEqual([
      { event: 'a', data: '1' },
      { event: 'b', data: '2' },
    ]);
    expect(first.consumed).toBe(36);
    const rest = parser.pushUpTo(chunk.subarray(first.consumed), 2);
    expect(rest).toEqual({ events: [{ event: 'c', data: '3' }], consumed: 18 });
  });

  it('gives the same events as push() for any split, one event at a time', () => {
    const input = 'event: a\r\ndata: 1\r\n\r\n: comment\n\nevent: b\rdata: 2\r\rdata: 3\n\n';
    const expected = new SseParser().push(bytes(input));
    for (let cut = 0; cut <= input.length; cut++) {
      const parser = new SseParser();
      const seen: SseEvent[] = [];
      for (const piece of [bytes(input.slice(0, cut)), bytes(input.slice(cut))]) {
        let rest = piece;
        // Bounded: each call consumes at least one event's bytes or the whole rest.
        for (let i = 0; i < 100 && rest.length > 0; i++) {
          const { events, consumed } = parser.pushUpTo(rest, 1);
          expect(events.length).toBeLessThanOrEqual(1);
          seen.push(...events);
          rest = rest.subarray(consumed);
        }
        expect(rest.length).toBe(0);
      }
      expect(seen, `cut at ${cut}`).toEqual(expected);
    }
  });

  it('consumes the LF of a CRLF that ends the last event it returns', () => {
    const parser = new SseParser();
    const chunk = bytes('data: 1\r\n\r\ndata: 2\r\n\r\n');
    const first = parser.pushUpTo(chunk, 1);
    expect(first.consumed).toBe(11);
    expect(parser.pushUpTo(chunk.subarray(first.consumed), 1).events).toEqual([{ event: undefined, data: '2' }]);
  });

  it.each([0, -1, Number.NaN])('rejects maxEvents %d', (maxEvents) => {
    expect(() => new SseParser().pushUpTo(bytes('data: 1\n\n'), maxEvents)).toThrow(/maxEvents/);
  });
});

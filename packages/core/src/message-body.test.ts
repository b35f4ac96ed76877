import { describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { classifyFailure } from './classify.js';
import { Deadline } from './deadline.js';
import { systemClock } from './clock.js';
import { isBodyDecodeFailure, isMessage, MalformedMessageError } from './message-body.js';

const message = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-5',
  content: [{ type: 'text', text: 'Hi' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 1, output_tokens: 1 },
};

describe('isMessage', () => {
  it('accepts a Message, with or without content blocks', () => {
    expect(isMessage(message)).toBe(true);
    expect(isMessage({ ...message, content: [] })).toBe(true);
  });

  it.each([
    ['a string', '<html>page</html>'],
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['an array', [message]],
    ['an empty object', {}],
    ['an error object', { type: 'error', error: { type: 'api_error', message: 'x' } }],
    ['another type', { ...message, type: 'completion' }],
    ['another role', { ...message, role: 'user' }],
    ['content not an array', { ...message, content: 'Hi' }],
    ['a null content block', { ...message, content: [null] }],
    ['an untyped content block', { ...message, content: [{ text: 'Hi' }] }],
    ['no usage', { ...message, usage: undefined }],
    ['usage an array', { ...message, usage: [] }],
  ])('refuses %s', (_name, value) => {
    expect(isMessage(value)).toBe(false);
  });
});

describe('isBodyDecodeFailure', () => {
  it("recognizes fetch's TypeError whose cause is a zlib error", () => {
    let zlibError: unknown;
    try {
      gunzipSync(Buffer.from('not gzip'));
    } catch (error) {
      zlibError = error;
    }
    expect(isBodyDecodeFailure(new TypeError('terminated', { cause: zlibError }))).toBe(true);
  });

  it('recognizes a brotli decoder code', () => {
    const cause = Object.assign(new Error('Decompression failed'), { code: 'ERR__ERROR_FORMAT_PADDING_1' });
    expect(isBodyDecodeFailure(new TypeError('terminated', { cause }))).toBe(true);
  });

  it('leaves a reset socket, a plain error and non-errors alone', () => {
    const socket = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    expect(isBodyDecodeFailure(new TypeError('terminated', { cause: socket }))).toBe(false);
    expect(isBodyDecodeFailure(new Error('boom'))).toBe(false);
    expect(isBodyDecodeFailure({ code: 'Z_DATA_ERROR' })).toBe(false);
    expect(isBodyDecodeFailure(undefined)).toBe(false);
  });
});

describe('MalformedMessageError', () => {
  it('says what the upstream answered, in our own words', () => {
    expect(new MalformedMessageError('not-a-message', 200).summary).toBe(
      'The Claude API answered 200 with something that is not a Message',
    );
    expect(new MalformedMessageError('undecodable', 200).summary).toBe(
      'The Claude API answered 200 with a body that could not be decoded',
    );
    expect(new MalformedMessageError('not-a-message', undefined).summary).toBe(
      'The Claude API answered with something that is not a Message',
    );
  });

  it('is classified as a malformed upstream answer: transient, a breaker failure', () => {
    const deadline = new Deadline(systemClock, 10_000, 'route-default');
    const failure = classifyFailure(new MalformedMessageError('undecodable', 200), {
      deadline,
      countRateLimits: false,
      now: systemClock.now,
    });
    deadline.dispose();
    expect(failure).toMatchObject({ kind: 'malformed', transient: true, breaker: 'failure', type: 'api_error' });
  });
});

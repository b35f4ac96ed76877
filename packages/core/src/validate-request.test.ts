import { describe, expect, it } from 'vitest';
import { DEFAULTS } from './options.js';
import { jsonNestingExceeds, validateMessagesBody } from './validate-request.js';

const limits = {
  maxBodyBytes: DEFAULTS.proxy.maxBodyBytes,
  allowedModels: new Set(['claude-sonnet-5']),
  maxTokensCap: 1000,
  forwardUpstreamClientErrors: true,
};
const valid = { model: 'claude-sonnet-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };

describe('jsonNestingExceeds', () => {
  it('counts arrays and objects together', () => {
    expect(jsonNestingExceeds('[{"a":[1]}]', 3)).toBe(false);
    expect(jsonNestingExceeds('[{"a":[[1]]}]', 3)).toBe(true);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(jsonNestingExceeds('{"a":"[[[[[[\\"[[[[["}', 1)).toBe(false);
    expect(jsonNestingExceeds('["\\\\", [[1]]]', 2)).toBe(true);
  });

  it('measures depth, not the number of brackets', () => {
    expect(jsonNestingExceeds('[[1],[2],[3],[4]]', 2)).toBe(false);
    expect(jsonNestingExceeds('['.repeat(100_000), 128)).toBe(true);
  });
});

describe('validateMessagesBody', () => {
  it('accepts a valid body and splits off stream', () => {
    const check = validateMessagesBody({ ...valid, stream: true }, limits);
    expect(check).toMatchObject({ ok: true, stream: true });
    expect(check.ok && 'stream' in check.params).toBe(false);
  });

  it.each([
    [[], 'The request body must be a JSON object'],
    [{ ...valid, model: undefined }, 'model: Field required'],
    [{ ...valid, model: 'claude-opus-9' }, "model: 'claude-opus-9' is not allowed on this route"],
    [{ ...valid, max_tokens: 0 }, 'max_tokens: must be a positive integer'],
    [{ ...valid, max_tokens: 1001 }, 'max_tokens: must be at most 1000 on this route'],
    [{ ...valid, messages: [] }, 'messages: must be a non-empty array'],
    [{ ...valid, messages: [{ role: 'system', content: 'x' }] }, "messages.0.role: must be 'user' or 'assistant'"],
    [
      { ...valid, messages: [{ role: 'user', content: 5 }] },
      'messages.0.content: must be a string or an array of content blocks',
    ],
    [{ ...valid, stream: 'yes' }, 'stream: must be a boolean'],
  ])('rejects %j with "%s"', (body, message) => {
    expect(validateMessagesBody(body, limits)).toEqual({
      ok: false,
      status: 400,
      type: 'invalid_request_error',
      message,
    });
  });
});

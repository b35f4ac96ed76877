import { describe, expect, it } from 'vitest';
import { validateCountTokensRequest, validateMessagesRequest } from './validate-request.js';

const valid = { model: 'claude-haiku-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };

describe('validateMessagesRequest', () => {
  it('accepts a minimal request', () => {
    expect(validateMessagesRequest(valid)).toEqual({ ok: true, value: valid });
  });

  it.each([
    [[], 'body: Input should be a valid dictionary'],
    [{ max_tokens: 1, messages: valid.messages }, 'model: Field required'],
    [{ ...valid, model: 5 }, 'model: Input should be a valid string'],
    [{ model: 'm', messages: valid.messages }, 'max_tokens: Field required'],
    [{ ...valid, max_tokens: '10' }, 'max_tokens: Input should be a valid integer'],
    [{ ...valid, max_tokens: 1.5 }, 'max_tokens: Input should be a valid integer'],
    [{ ...valid, max_tokens: 0 }, 'max_tokens: Input should be greater than or equal to 1'],
    [{ model: 'm', max_tokens: 1 }, 'messages: Field required'],
    [{ ...valid, messages: 'hi' }, 'messages: Input should be a valid list'],
    [{ ...valid, messages: [] }, 'messages: at least one message is required'],
    [
      { ...valid, messages: [{ role: 'system', content: 'x' }] },
      "messages.0.role: Input should be 'user' or 'assistant'",
    ],
    [{ ...valid, messages: [{ role: 'user' }] }, 'messages.0.content: Field required'],
    [
      { ...valid, messages: [{ role: 'user', content: 3 }] },
      'messages.0.content: Input should be a valid string or a valid list',
    ],
    [{ ...valid, messages: [{ role: 'user', content: [{ text: 'x' }] }] }, 'messages.0.content.0.type: Field required'],
    [
      { ...valid, messages: [{ role: 'user', content: [{ type: 'text' }] }] },
      'messages.0.content.0.text: Field required',
    ],
    [{ ...valid, stream: 'yes' }, 'stream: Input should be a valid boolean'],
  ])('rejects %j', (body, message) => {
    expect(validateMessagesRequest(body)).toEqual({ ok: false, message });
  });
});

describe('validateCountTokensRequest', () => {
  it('does not require max_tokens', () => {
    expect(validateCountTokensRequest({ model: 'm', messages: valid.messages }).ok).toBe(true);
    expect(validateCountTokensRequest({ model: 'm' })).toEqual({ ok: false, message: 'messages: Field required' });
  });
});

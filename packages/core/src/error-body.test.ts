import { describe, expect, it } from 'vitest';
import { anthropicErrorBody, redactSecrets } from './error-body.js';

describe('anthropicErrorBody', () => {
  it('builds the API error shape', () => {
    expect(anthropicErrorBody('overloaded_error', 'Overloaded', 'req_1')).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
      request_id: 'req_1',
    });
    expect(JSON.stringify(anthropicErrorBody('api_error', 'x', 'r'))).toBe(
      '{"type":"error","error":{"type":"api_error","message":"x"},"request_id":"r"}',
    );
  });
});

describe('redactSecrets', () => {
  it('replaces every occurrence of each secret', () => {
    expect(redactSecrets('token abc123 then abc123 and xyz', ['abc123', 'xyz'])).toBe(
      'token [redacted] then [redacted] and [redacted]',
    );
  });

  it('ignores empty secrets', () => {
    expect(redactSecrets('hello', ['', ''])).toBe('hello');
    expect(redactSecrets('hello', [''])).toBe('hello');
  });

  it('redacts the longer of two overlapping secrets completely', () => {
    expect(redactSecrets('key=abcdef', ['abc', 'abcdef'])).toBe('key=[redacted]');
  });

  it('treats secrets literally, not as patterns', () => {
    expect(redactSecrets('a.b a+b $& (x)', ['a.b', '$&', '(x)'])).toBe('[redacted] a+b [redacted] [redacted]');
  });

  it('redacts anything shaped like an Anthropic key', () => {
    expect(redactSecrets('invalid x-api-key: sk-ant-api03-AbC_d-9 (check it)', [])).toBe(
      'invalid x-api-key: [redacted] (check it)',
    );
  });

  it('drops a stack trace after the first line', () => {
    const text = 'Error: boom\n    at fetch (/app/node_modules/x.js:1:1)\n    at main (/app/index.js:2:2)';
    expect(redactSecrets(text, [])).toBe('Error: boom');
    expect(redactSecrets('boom\r\n\tat x (y.js:1:1)', [])).toBe('boom');
  });

  it('keeps ordinary multi-line messages', () => {
    expect(redactSecrets('line one\nline two at noon', [])).toBe('line one\nline two at noon');
  });

  it('caps the result at 500 characters after redacting', () => {
    const secret = 's'.repeat(600);
    expect(redactSecrets(`x${secret}y`, [secret])).toBe('x[redacted]y');
    const long = redactSecrets('a'.repeat(499) + secret, [secret]);
    expect(long).toHaveLength(500);
    expect(long).toBe(`${'a'.repeat(499)}[`);
    expect(redactSecrets('b'.repeat(2000), [])).toBe('b'.repeat(500));
  });

  // Issue 10: only the exact key and `sk-ant-` were caught; every encoding below got through.
  describe('every form of a configured secret', () => {
    const key = 'corp-Gateway-Token-Hj5Ww2Ee8Rr1Tt4~Yy7';
    const bytes = Buffer.from(key);
    // [name, form, what is left of it]: a base64 blob keeps the characters that encode its own prefix alone.
    const forms: [string, string, string?][] = [
      ['plain', key],
      ['upper-cased', key.toUpperCase()],
      ['lower-cased', key.toLowerCase()],
      ['base64', bytes.toString('base64')],
      ['base64url', bytes.toString('base64url')],
      ['base64 inside a longer blob', Buffer.from(`Basic x:${key}`).toString('base64'), 'QmFzaWMge[redacted]'],
      ['hex', bytes.toString('hex')],
      ['percent-encoded', [...bytes].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('')],
      ['URI-encoded', encodeURIComponent(key)],
      ['spaced', [...key].join(' ')],
      ['separated by dots and dashes', [...key].join('.-')],
      ['reversed', [...key].reverse().join('')],
      ['reversed and upper-cased', [...key].reverse().join('').toUpperCase()],
      ['truncated to 20 characters', key.slice(0, 20)],
    ];

    it.each(forms)('%s', (_name, form, left = '[redacted]') => {
      expect(redactSecrets(`denied (${form}) retry`, [key])).toBe(`denied (${left}) retry`);
    });

    it('several forms in one message', () => {
      const text = forms.map(([, form]) => form).join(' | ');
      expect(redactSecrets(text, [key])).toBe(forms.map(([, , left = '[redacted]']) => left).join(' | '));
    });

    it('an upper-cased Anthropic key that is not configured', () => {
      expect(redactSecrets('key SK-ANT-API03-ABC_D-9 here', [])).toBe('key [redacted] here');
    });

    it('keeps ordinary text around a secret intact', () => {
      const text = `Your key ${key} is invalid: see https://docs.example.com/errors#auth for details.`;
      expect(redactSecrets(text, [key])).toBe(
        'Your key [redacted] is invalid: see https://docs.example.com/errors#auth for details.',
      );
    });

    it('leaves a message that holds no secret unchanged', () => {
      const text = 'messages.0.content: Input should be a valid list (request 7f3a9c0d1e2b4a5f)';
      expect(redactSecrets(text, [key])).toBe(text);
    });

    it('matches a secret of fewer than 8 letters and digits exactly only', () => {
      expect(redactSecrets('a b c d e f g and abcdefg', ['abcdefg'])).toBe('a b c d e f g and [redacted]');
    });

    it('scans a long message only as far as needed for the 500 characters kept', () => {
      const result = redactSecrets(`${'x '.repeat(100)}${key}${' y'.repeat(10_000)}`, [key]);
      expect(result).toHaveLength(500);
      expect(result).toContain('x [redacted] y');
    });
  });

  it('does not split a surrogate pair at the cap', () => {
    const result = redactSecrets(`${'a'.repeat(499)}😀tail`, []);
    expect(result).toBe('a'.repeat(499));
  });
});

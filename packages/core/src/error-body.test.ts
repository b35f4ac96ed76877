import { describe, expect, it } from 'vitest';
import { anthropicErrorBody, errorTypeForStatus, redactSecrets } from './error-body.js';

describe('errorTypeForStatus', () => {
  it.each([
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [402, 'billing_error'],
    [403, 'permission_error'],
    [404, 'not_found_error'],
    [408, 'timeout_error'],
    [409, 'conflict_error'],
    [413, 'request_too_large'],
    [422, 'invalid_request_error'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
    [502, 'api_error'],
    [503, 'api_error'],
    [504, 'api_error'],
    [529, 'overloaded_error'],
    [418, 'invalid_request_error'],
    [499, 'invalid_request_error'],
    [599, 'api_error'],
    [200, 'api_error'],
    [0, 'api_error'],
  ])('maps %d to %s', (status, type) => {
    expect(errorTypeForStatus(status)).toBe(type);
  });
});

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

  it('does not split a surrogate pair at the cap', () => {
    const result = redactSecrets(`${'a'.repeat(499)}😀tail`, []);
    expect(result).toBe('a'.repeat(499));
  });
});

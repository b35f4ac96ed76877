import { describe, expect, it } from 'vitest';
import {
  ANTHROPIC_ERROR_TYPES,
  errorTypeForStatus,
  isAnthropicErrorType,
  statusForErrorType,
  toAnthropicErrorType,
} from './anthropic-error-types.js';

describe('the Anthropic error vocabulary', () => {
  it('knows every type of the wire table, conflict_error included', () => {
    expect([...ANTHROPIC_ERROR_TYPES].sort()).toEqual(
      [
        'api_error',
        'authentication_error',
        'billing_error',
        'conflict_error',
        'invalid_request_error',
        'not_found_error',
        'overloaded_error',
        'permission_error',
        'rate_limit_error',
        'request_too_large',
        'timeout_error',
      ].sort(),
    );
  });

  it('checks membership without reaching the prototype', () => {
    expect(isAnthropicErrorType('conflict_error')).toBe(true);
    expect(isAnthropicErrorType('toString')).toBe(false);
    expect(isAnthropicErrorType(42)).toBe(false);
    expect(toAnthropicErrorType('brand_new_error')).toBe('api_error');
    expect(toAnthropicErrorType('rate_limit_error')).toBe('rate_limit_error');
  });

  it('maps each type to a status that maps back to the same type, except the gateway ones', () => {
    for (const type of ANTHROPIC_ERROR_TYPES) {
      const status = statusForErrorType(type);
      if (type === 'api_error') expect(status).toBe(502);
      else if (type === 'timeout_error') expect(status).toBe(504);
      else expect(errorTypeForStatus(status)).toBe(type);
    }
  });

  it('maps statuses the way the API does', () => {
    expect(errorTypeForStatus(408)).toBe('timeout_error');
    expect(errorTypeForStatus(418)).toBe('invalid_request_error');
    expect(errorTypeForStatus(503)).toBe('api_error');
    expect(errorTypeForStatus(529)).toBe('overloaded_error');
  });
});

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

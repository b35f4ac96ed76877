import { describe, expect, it } from 'vitest';
import { isForwardableRateLimit, upstreamRequestId } from './upstream-headers.js';

const KEY = 'corpToken9Hj5Ww2Ee8Rr1Tt4Yy7';

describe('upstreamRequestId', () => {
  it.each(['req_011CSHoEeqs5C35K2UUqR7Fy', 'req_fake0a1b2c3d000001', 'req_1', `req_${'a'.repeat(64)}`])(
    'keeps %s',
    (id) => {
      expect(upstreamRequestId(id, [KEY])).toBe(id);
    },
  );

  it.each([
    ['empty', ''],
    ['no prefix', '011CSHoEeqs5C35K2UUqR7Fy'],
    ['only the prefix', 'req_'],
    ['too long', `req_${'a'.repeat(65)}`],
    ['an underscore after the prefix', 'req_up_1'],
    ['a space', 'req_ab cd'],
    ['CRLF', 'req_ab\r\nx-evil: 1'],
    ['an Anthropic key', 'sk-ant-api03-abcdefghijkl'],
    ['the key behind the prefix', `req_${KEY}`],
    ['the key reversed behind the prefix', `req_${[...KEY].reverse().join('')}`],
    ['the key upper-cased behind the prefix', `req_${KEY.toUpperCase()}`],
    ['a 12-character run of the key', `req_01${KEY.slice(8, 20)}`],
  ])('drops %s', (_name, id) => {
    expect(upstreamRequestId(id, [KEY])).toBeUndefined();
  });

  it('drops nothing and null', () => {
    expect(upstreamRequestId(null, [])).toBeUndefined();
    expect(upstreamRequestId(undefined, [])).toBeUndefined();
  });
});

describe('isForwardableRateLimit', () => {
  it.each([
    ['anthropic-ratelimit-requests-limit', '50'],
    ['anthropic-ratelimit-tokens-remaining', '0'],
    ['anthropic-ratelimit-input-tokens-limit', '999999999999999'],
    ['anthropic-ratelimit-output-tokens-reset', '2026-01-01T00:01:00Z'],
    ['anthropic-ratelimit-requests-reset', '2026-02-28T23:59:59.123456789+05:30'],
    ['anthropic-ratelimit-tokens-reset', '2028-02-29t12:00:00z'],
    ['anthropic-ratelimit-tokens-reset', '2026-06-30T23:59:60Z'],
  ])('forwards %s: %s', (name, value) => {
    expect(isForwardableRateLimit(name, value, [KEY])).toBe(true);
  });

  it.each([
    ['anthropic-ratelimit-requests-limit', '-1'],
    ['anthropic-ratelimit-requests-limit', '1e3'],
    ['anthropic-ratelimit-requests-limit', '12.5'],
    ['anthropic-ratelimit-requests-limit', '0x10'],
    ['anthropic-ratelimit-requests-limit', '007'],
    ['anthropic-ratelimit-requests-limit', ''],
    ['anthropic-ratelimit-requests-limit', '99999999999999999999999'],
    ['anthropic-ratelimit-requests-remaining', ' 5'],
    ['anthropic-ratelimit-requests-reset', 'tomorrow'],
    ['anthropic-ratelimit-requests-reset', '2026-13-01T00:00:00Z'],
    ['anthropic-ratelimit-requests-reset', '2026-02-30T00:00:00Z'],
    ['anthropic-ratelimit-requests-reset', '2026-01-01T24:00:00Z'],
    ['anthropic-ratelimit-requests-reset', '2026-01-01T00:00:00'],
    ['anthropic-ratelimit-requests-reset', '2026-01-01T00:00:00+25:00'],
    ['anthropic-ratelimit-requests-reset', 'Thu, 01 Jan 2026 00:00:00 GMT'],
    ['anthropic-ratelimit-requests-reset', '1767225600'],
    ['anthropic-ratelimit-unknown-limit', '5'],
    [`anthropic-ratelimit-${KEY.toLowerCase()}-limit`, '5'],
    ['anthropic-ratelimit-requests-other', '5'],
  ])('drops %s: %j', (name, value) => {
    expect(isForwardableRateLimit(name, value, [KEY])).toBe(false);
  });

  it('drops a count made of a digits-only secret', () => {
    expect(isForwardableRateLimit('anthropic-ratelimit-tokens-limit', '123456789012345', ['123456789012345'])).toBe(
      false,
    );
  });
});

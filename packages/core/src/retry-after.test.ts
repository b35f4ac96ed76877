import { describe, expect, it, vi } from 'vitest';
import { MAX_RETRY_AFTER_MS, readRetryAdvice, retryAfterSeconds } from './retry-after.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const now = () => NOW;

describe('readRetryAdvice', () => {
  it('returns all undefined without headers', () => {
    const empty = { shouldRetry: undefined, retryAfterMs: undefined };
    expect(readRetryAdvice(undefined)).toEqual(empty);
    expect(readRetryAdvice(null)).toEqual(empty);
    expect(readRetryAdvice(new Headers())).toEqual(empty);
  });

  it.each([
    ['true', true],
    ['false', false],
    ['TRUE', undefined],
    ['1', undefined],
    ['', undefined],
  ])('reads x-should-retry %j as %s, like the SDK', (value, expected) => {
    expect(readRetryAdvice(new Headers({ 'x-should-retry': value })).shouldRetry).toBe(expected);
  });

  it('reads retry-after-ms as float milliseconds', () => {
    expect(readRetryAdvice(new Headers({ 'retry-after-ms': '1500.5' })).retryAfterMs).toBe(1500.5);
    expect(readRetryAdvice(new Headers({ 'retry-after-ms': '0' })).retryAfterMs).toBe(0);
  });

  it('prefers retry-after-ms over retry-after', () => {
    const headers = new Headers({ 'retry-after-ms': '250', 'retry-after': '30' });
    expect(readRetryAdvice(headers).retryAfterMs).toBe(250);
  });

  it('reads retry-after as seconds', () => {
    expect(readRetryAdvice(new Headers({ 'retry-after': '2' })).retryAfterMs).toBe(2000);
    expect(readRetryAdvice(new Headers({ 'retry-after': '0.25' })).retryAfterMs).toBe(250);
  });

  it('reads retry-after as an HTTP date relative to now()', () => {
    const date = new Date(NOW + 30_000).toUTCString(); // e.g. "Thu, 15 Jan 2026 12:00:30 GMT"
    expect(readRetryAdvice(new Headers({ 'retry-after': date }), now).retryAfterMs).toBe(30_000);
  });

  it('accepts the obsolete RFC 850 and asctime date forms', () => {
    const rfc850 = 'Thursday, 15-Jan-26 12:00:10 GMT';
    const asctime = 'Thu Jan 15 12:00:05 2026';
    expect(readRetryAdvice(new Headers({ 'retry-after': rfc850 }), now).retryAfterMs).toBe(10_000);
    // asctime has no zone; Date.parse reads it as local time, so only check it parses to a finite, non-negative value.
    const fromAsctime = readRetryAdvice(new Headers({ 'retry-after': asctime }), now).retryAfterMs;
    expect(fromAsctime).toBeTypeOf('number');
    expect(fromAsctime).toBeGreaterThanOrEqual(0);
  });

  it('clamps a past HTTP date to 0', () => {
    const past = new Date(NOW - 60_000).toUTCString();
    expect(readRetryAdvice(new Headers({ 'retry-after': past }), now).retryAfterMs).toBe(0);
  });

  it('uses Date.now by default for HTTP dates', () => {
    vi.spyOn(Date, 'now').mockReturnValue(NOW);
    const date = new Date(NOW + 5000).toUTCString();
    expect(readRetryAdvice(new Headers({ 'retry-after': date })).retryAfterMs).toBe(5000);
  });

  it.each(['abc', '5x', '-1', '1e3', '0x10', 'NaN', 'Infinity', '1.', '.5', '1.5.3', '1'.repeat(400)])(
    'ignores a garbage retry-after of %j',
    (value) => {
      expect(readRetryAdvice(new Headers({ 'retry-after': value }), now).retryAfterMs).toBeUndefined();
    },
  );

  it.each(['abc', '5x', '-100', '', 'Infinity', '1e2'])('falls through a garbage retry-after-ms of %j', (value) => {
    const headers = new Headers({ 'retry-after-ms': value, 'retry-after': '3' });
    expect(readRetryAdvice(headers, now).retryAfterMs).toBe(3000);
    expect(readRetryAdvice(new Headers({ 'retry-after-ms': value }), now).retryAfterMs).toBeUndefined();
  });

  it('reports both fields together', () => {
    const headers = new Headers({ 'x-should-retry': 'false', 'retry-after': '1' });
    expect(readRetryAdvice(headers)).toEqual({ shouldRetry: false, retryAfterMs: 1000 });
  });
});

describe('retryAfterSeconds', () => {
  it.each([
    [0, '0'],
    [-5, '0'],
    [Number.NaN, '0'],
    [1, '1'],
    [999, '1'],
    [1000, '1'],
    [1001, '2'],
    [30_000, '30'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(retryAfterSeconds(ms)).toBe(text);
  });

  // Issue 10: 1e26 ms came out as "1e+23", which is no header value.
  it.each([
    [MAX_RETRY_AFTER_MS, '21600'],
    [MAX_RETRY_AFTER_MS + 1, '21600'],
    [1e26, '21600'],
    [Number.MAX_VALUE, '21600'],
    [Infinity, '21600'],
  ])('caps %d ms at 6 hours (%s s)', (ms, text) => {
    expect(retryAfterSeconds(ms)).toBe(text);
  });
});

describe('readRetryAdvice caps what it reads at 6 hours', () => {
  it.each([
    [{ 'retry-after': '99999999999999999999999' }],
    [{ 'retry-after': '21601' }],
    [{ 'retry-after-ms': '99999999999999999999999999' }],
    [{ 'retry-after': 'Fri, 31 Dec 9999 23:59:59 GMT' }],
  ])('%j', (headers) => {
    expect(readRetryAdvice(new Headers(headers), now).retryAfterMs).toBe(MAX_RETRY_AFTER_MS);
  });

  it('keeps a wait of exactly 6 hours', () => {
    expect(readRetryAdvice(new Headers({ 'retry-after': '21600' }), now).retryAfterMs).toBe(21_600_000);
  });
});

import { describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_DEADLINE_HEADERS,
  deadlineToHeaders,
  formatGrpcTimeout,
  parseDeadlineHeaders,
} from './deadline-header.js';

const from = (headers: Record<string, string>) => (name: string) => new Headers(headers).get(name);
const MS_REASON = 'must be an integer number of milliseconds';
const GRPC_REASON = 'must be 1-8 digits followed by a unit H, M, S, m, u or n';

describe('parseDeadlineHeaders', () => {
  it('reports absent when no header is present', () => {
    expect(parseDeadlineHeaders(from({}))).toEqual({ kind: 'absent' });
    expect(parseDeadlineHeaders(() => undefined)).toEqual({ kind: 'absent' });
  });

  it('reads each default header in order', () => {
    const get = vi.fn((_name: string) => null);
    parseDeadlineHeaders(get);
    expect(get.mock.calls.map(([name]) => name)).toEqual([...DEFAULT_DEADLINE_HEADERS]);
  });

  it.each([
    ['x-request-timeout-ms', '1500', 1500],
    ['x-envoy-expected-rq-timeout-ms', '250', 250],
    ['x-request-timeout-ms', ' 42 ', 42],
    ['x-request-timeout-ms', '0', 0],
    ['x-request-timeout-ms', '-0', 0],
    ['x-request-timeout-ms', '-20', -20],
    ['x-request-timeout-ms', '999999999', 999_999_999],
    ['x-request-timeout-ms', '007', 7],
  ])('parses %s: %j as %d ms', (header, value, ms) => {
    const result = parseDeadlineHeaders(from({ [header]: value }));
    expect(result).toEqual({ kind: 'ok', ms, header });
    if (result.kind === 'ok') expect(Object.is(result.ms, -0)).toBe(false);
  });

  it.each([
    ['2H', 7_200_000],
    ['3M', 180_000],
    ['2S', 2000],
    ['500m', 500],
    ['1500u', 1],
    ['999u', 0],
    ['2500000n', 2],
    ['999999n', 0],
    ['0m', 0],
    ['99999999H', 99_999_999 * 3_600_000],
    [' 7S ', 7000],
  ])('parses grpc-timeout %j as %d ms', (value, ms) => {
    expect(parseDeadlineHeaders(from({ 'grpc-timeout': value }))).toEqual({ kind: 'ok', ms, header: 'grpc-timeout' });
  });

  it.each(['NaN', '1'.repeat(30), '1234567890', '5x', '-', '', '   ', '1.5', '+5', '1e3', '0x10', '--1', '5 0'])(
    'rejects a millisecond value of %j',
    (value) => {
      expect(parseDeadlineHeaders(from({ 'x-request-timeout-ms': value }))).toEqual({
        kind: 'invalid',
        header: 'x-request-timeout-ms',
        reason: MS_REASON,
      });
    },
  );

  it.each(['500', 'm', '', '123456789m', '-5m', '1.5S', '5x', '5 S', '5s', '5h', 'NaN', '1'.repeat(30)])(
    'rejects a grpc-timeout of %j',
    (value) => {
      expect(parseDeadlineHeaders(from({ 'grpc-timeout': value }))).toEqual({
        kind: 'invalid',
        header: 'grpc-timeout',
        reason: GRPC_REASON,
      });
    },
  );

  it('trims whitespace a raw getter leaves in place', () => {
    expect(parseDeadlineHeaders(() => ' 42\t', ['x-request-timeout-ms'])).toEqual({
      kind: 'ok',
      ms: 42,
      header: 'x-request-timeout-ms',
    });
    expect(parseDeadlineHeaders(() => '  7S ', ['grpc-timeout'])).toEqual({
      kind: 'ok',
      ms: 7000,
      header: 'grpc-timeout',
    });
  });

  it('treats an empty value from a raw getter as invalid, not absent', () => {
    const result = parseDeadlineHeaders((name) => (name === 'x-envoy-expected-rq-timeout-ms' ? '' : undefined));
    expect(result).toEqual({ kind: 'invalid', header: 'x-envoy-expected-rq-timeout-ms', reason: MS_REASON });
  });

  it('picks the smallest budget among several headers', () => {
    const headers = { 'x-request-timeout-ms': '3000', 'x-envoy-expected-rq-timeout-ms': '2000', 'grpc-timeout': '5S' };
    expect(parseDeadlineHeaders(from(headers))).toEqual({
      kind: 'ok',
      ms: 2000,
      header: 'x-envoy-expected-rq-timeout-ms',
    });
    expect(parseDeadlineHeaders(from({ ...headers, 'grpc-timeout': '1S' }))).toEqual({
      kind: 'ok',
      ms: 1000,
      header: 'grpc-timeout',
    });
  });

  it('keeps the first header on a tie', () => {
    const headers = { 'x-request-timeout-ms': '1000', 'grpc-timeout': '1S' };
    expect(parseDeadlineHeaders(from(headers))).toMatchObject({ kind: 'ok', header: 'x-request-timeout-ms' });
  });

  it('makes the whole result invalid when any header is malformed', () => {
    const headers = { 'x-request-timeout-ms': '100', 'grpc-timeout': 'soon' };
    expect(parseDeadlineHeaders(from(headers))).toEqual({
      kind: 'invalid',
      header: 'grpc-timeout',
      reason: GRPC_REASON,
    });
  });

  it('names the first malformed header in name order', () => {
    const headers = { 'x-request-timeout-ms': 'x', 'grpc-timeout': 'y' };
    expect(parseDeadlineHeaders(from(headers))).toMatchObject({ kind: 'invalid', header: 'x-request-timeout-ms' });
  });

  it('honours custom names and detects grpc-timeout by name in any case', () => {
    const get = (name: string) => ({ 'x-budget': '900', 'GRPC-Timeout': '2S' })[name];
    expect(parseDeadlineHeaders(get, ['x-budget'])).toEqual({ kind: 'ok', ms: 900, header: 'x-budget' });
    expect(parseDeadlineHeaders(get, ['GRPC-Timeout'])).toEqual({ kind: 'ok', ms: 2000, header: 'GRPC-Timeout' });
    expect(parseDeadlineHeaders(get, [])).toEqual({ kind: 'absent' });
  });
});

describe('formatGrpcTimeout', () => {
  it.each([
    [1500, '1500m'],
    [1500.9, '1500m'],
    [0, '0m'],
    [0.4, '0m'],
    [-5, '0m'],
    [99_999_999, '99999999m'],
    [100_000_000, '100000S'],
    [100_000_999, '100000S'],
    [99_999_999_999, '99999999S'],
    [100_000_000_000, '1666666M'],
    [7_000_000_000_000, '1944444H'],
    [Number.MAX_VALUE, '99999999H'],
    [Infinity, '99999999H'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatGrpcTimeout(ms)).toBe(text);
  });

  it('round-trips through parseDeadlineHeaders without exceeding the input', () => {
    for (const ms of [0, 1, 999, 123_456, 99_999_999, 123_456_789_012]) {
      const result = parseDeadlineHeaders(from({ 'grpc-timeout': formatGrpcTimeout(ms) }));
      expect(result.kind).toBe('ok');
      if (result.kind === 'ok') {
        expect(result.ms).toBeLessThanOrEqual(ms);
        expect(result.ms).toBeGreaterThan(ms * 0.999 - 1);
      }
    }
  });

  it('rejects NaN', () => {
    expect(() => formatGrpcTimeout(Number.NaN)).toThrow(TypeError);
  });
});

describe('deadlineToHeaders', () => {
  it('writes every default header', () => {
    expect(deadlineToHeaders(1234.5)).toEqual({
      'x-request-timeout-ms': '1234',
      'x-envoy-expected-rq-timeout-ms': '1234',
      'grpc-timeout': '1234m',
    });
  });

  it('floors at zero', () => {
    expect(deadlineToHeaders(-50)).toEqual({
      'x-request-timeout-ms': '0',
      'x-envoy-expected-rq-timeout-ms': '0',
      'grpc-timeout': '0m',
    });
  });

  it('caps millisecond headers at what the parser accepts', () => {
    const headers = deadlineToHeaders(5_000_000_000, ['x-request-timeout-ms', 'grpc-timeout']);
    expect(headers).toEqual({ 'x-request-timeout-ms': '999999999', 'grpc-timeout': '5000000S' });
    expect(parseDeadlineHeaders((name) => headers[name])).toEqual({
      kind: 'ok',
      ms: 999_999_999,
      header: 'x-request-timeout-ms',
    });
  });

  it('writes only the requested names', () => {
    expect(deadlineToHeaders(10, ['x-budget-ms'])).toEqual({ 'x-budget-ms': '10' });
  });

  it('rejects NaN', () => {
    expect(() => deadlineToHeaders(Number.NaN)).toThrow(TypeError);
  });
});

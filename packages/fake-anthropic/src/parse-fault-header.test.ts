import { describe, expect, it } from 'vitest';
import { FaultParseError, parseFaultHeader } from './parse-fault-header.js';

describe('parseFaultHeader', () => {
  it.each([
    ['status=529', { kind: 'status', status: 529 }],
    ['status=529; retry-after=2', { kind: 'status', status: 529, headers: { 'retry-after': '2' } }],
    [
      'status=429; retry-after-ms=150; x-should-retry=false',
      { kind: 'status', status: 429, headers: { 'retry-after-ms': '150', 'x-should-retry': 'false' } },
    ],
    ['status=401; echo-api-key', { kind: 'status', status: 401, echoApiKey: true }],
    [
      'status=500; type=overloaded_error; message=Try later',
      {
        kind: 'status',
        status: 500,
        type: 'overloaded_error',
        message: 'Try later',
      },
    ],
    ['overloaded', { kind: 'status', status: 529 }],
    ['rate-limited', { kind: 'status', status: 429, headers: { 'retry-after': '1' } }],
    ['rate-limited; retry-after=5', { kind: 'status', status: 429, headers: { 'retry-after': '5' } }],
    ['server-error', { kind: 'status', status: 500 }],
    ['delay-headers=500', { kind: 'delay-headers', ms: 500 }],
    ['stall', { kind: 'stall', afterEvents: 0 }],
    ['stall-after=3', { kind: 'stall', afterEvents: 3 }],
    ['in-band-error', { kind: 'in-band-error', type: 'overloaded_error', afterEvents: 0 }],
    ['in-band-error=overloaded_error; after=2', { kind: 'in-band-error', type: 'overloaded_error', afterEvents: 2 }],
    [
      'in-band-error=api_error; after=1; message=boom',
      {
        kind: 'in-band-error',
        type: 'api_error',
        afterEvents: 1,
        message: 'boom',
      },
    ],
    ['reset', { kind: 'reset' }],
    ['reset-before-headers', { kind: 'reset' }],
    ['reset-after=3', { kind: 'reset', afterEvents: 3 }],
    ['malformed', { kind: 'malformed', afterEvents: 0 }],
    ['malformed-after=2', { kind: 'malformed', afterEvents: 2 }],
    ['trickle=4; delay=5', { kind: 'trickle', chunkBytes: 4, delayMs: 5 }],
    ['trickle=4', { kind: 'trickle', chunkBytes: 4, delayMs: 10 }],
    ['slow; token-delay-ms=20; first-event-delay-ms=100', { kind: 'slow', firstEventDelayMs: 100, tokenDelayMs: 20 }],
    ['slow', { kind: 'slow' }],
    ['spend-limit', { kind: 'status', status: 429, errorCode: 'enforced_spend_limit_reached' }],
    [
      'spend-limit; retry-after=3600; x-should-retry=false',
      {
        kind: 'status',
        status: 429,
        errorCode: 'enforced_spend_limit_reached',
        headers: { 'retry-after': '3600', 'x-should-retry': 'false' },
      },
    ],
    ['contract-spend-limit', { kind: 'status', status: 429, errorCode: 'contract_spend_limit_reached' }],
    ['ramp-limit', { kind: 'status', status: 429, errorCode: 'ramp_limit_exceeded', headers: { 'retry-after': '1' } }],
    [
      'status=402; error-code=linked_organization_spend_limit_reached',
      { kind: 'status', status: 402, errorCode: 'linked_organization_spend_limit_reached' },
    ],
    [
      'rate-limited; error-code=ramp_limit_exceeded',
      { kind: 'status', status: 429, errorCode: 'ramp_limit_exceeded', headers: { 'retry-after': '1' } },
    ],
  ])('parses %j', (value, expected) => {
    expect(parseFaultHeader(value)).toEqual(expected);
  });

  it('is lenient about spacing, case, order and trailing separators', () => {
    expect(parseFaultHeader('  Retry-After = 2 ;STATUS=529;  ')).toEqual({
      kind: 'status',
      status: 529,
      headers: { 'retry-after': '2' },
    });
  });

  it('reads ok and none as explicitly no fault', () => {
    expect(parseFaultHeader('ok')).toBeUndefined();
    expect(parseFaultHeader('none')).toBeUndefined();
  });

  it.each([
    ['', /empty value/],
    ['explode', /unknown fault 'explode'/],
    ['status', /'status' needs a value/],
    ['status=abc', /'status' must be a non-negative integer/],
    ['status=200', /status must be from 400 to 599/],
    ['status=529; stall', /one fault per request/],
    ['stall=2', /'stall' takes no value/],
    ['stall-after=3; retry-after=1', /unknown parameter 'retry-after' for 'stall-after'/],
    ['in-band-error=teapot_error', /must be an Anthropic error type/],
    ['status=529; type=nope', /must be an Anthropic error type/],
    ['trickle=0', /at least 1 byte/],
    ['status=529; status=500', /appears twice/],
    ['status=401; echo-api-key=maybe', /true or false/],
    ['status=429; retry-after', /'retry-after' needs a value/],
    ['status=429; error-code=Not-A-Code', /'error-code' must be lowercase letters, digits and _/],
    ['spend-limit; error-code', /'error-code' must be lowercase letters/],
    ['ramp-limit=2', /'ramp-limit' takes no value/],
  ])('rejects %j', (value, message) => {
    expect(() => parseFaultHeader(value)).toThrow(FaultParseError);
    expect(() => parseFaultHeader(value)).toThrow(message);
  });

  it('names the header and quotes the input in its errors', () => {
    expect(() => parseFaultHeader('explode')).toThrow("x-fake-fault: unknown fault 'explode' (in 'explode')");
  });
});

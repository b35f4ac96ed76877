import { describe, expect, it } from 'vitest';
import { createRateLimiter, DEFAULT_RATE_LIMITS, resolveRateLimits } from './rate-limit-budget.js';

function wallClock(iso: string) {
  let time = Date.parse(iso);
  return { now: () => time, advance: (ms: number) => (time += ms) };
}

describe('createRateLimiter', () => {
  it('reports large informational limits by default and counts what admitted requests used', () => {
    const clock = wallClock('2026-01-01T00:00:30.250Z');
    const limiter = createRateLimiter(DEFAULT_RATE_LIMITS, clock.now);
    expect(limiter.admit(10, 5)).toEqual({ admitted: true });
    expect(limiter.admit(1, 2)).toEqual({ admitted: true });
    const headers = limiter.headers();
    expect(headers).toEqual({
      'anthropic-ratelimit-requests-limit': '4000',
      'anthropic-ratelimit-requests-remaining': '3998',
      'anthropic-ratelimit-requests-reset': '2026-01-01T00:01:31Z',
      'anthropic-ratelimit-input-tokens-limit': '2000000',
      'anthropic-ratelimit-input-tokens-remaining': String(2_000_000 - 11),
      'anthropic-ratelimit-input-tokens-reset': '2026-01-01T00:01:31Z',
      'anthropic-ratelimit-output-tokens-limit': '400000',
      'anthropic-ratelimit-output-tokens-remaining': String(400_000 - 7),
      'anthropic-ratelimit-output-tokens-reset': '2026-01-01T00:01:31Z',
      'anthropic-ratelimit-tokens-limit': '2400000',
      'anthropic-ratelimit-tokens-remaining': String(2_400_000 - 18),
      'anthropic-ratelimit-tokens-reset': '2026-01-01T00:01:31Z',
    });
  });

  it('opens a window with the first request, ends it windowMs later on a whole second, then starts over', () => {
    const clock = wallClock('2026-01-01T00:00:00.400Z');
    const limiter = createRateLimiter(resolveRateLimits({ requests: 2, windowMs: 2000 }, 'rateLimits'), clock.now);
    expect(limiter.admit(3, 3)).toEqual({ admitted: true });
    clock.advance(500);
    expect(limiter.admit(3, 3)).toEqual({ admitted: true });
    expect(limiter.headers()).toMatchObject({
      'anthropic-ratelimit-requests-limit': '2',
      'anthropic-ratelimit-requests-remaining': '0',
      // 00.400 + 2 s, rounded up: the window is never shorter than windowMs.
      'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:03Z',
    });
    clock.advance(100); // 00:00:01.000
    expect(limiter.admit(3, 3)).toMatchObject({ admitted: false, family: 'requests', limit: 2, retryAfterSeconds: 2 });
    clock.advance(1_999); // 00:00:02.999: one ms before the reset
    expect(limiter.admit(3, 3)).toMatchObject({ admitted: false, retryAfterSeconds: 1 });
    clock.advance(1); // exactly the advertised reset
    expect(limiter.admit(3, 3)).toEqual({ admitted: true });
    expect(limiter.headers()).toMatchObject({
      'anthropic-ratelimit-requests-remaining': '1',
      'anthropic-ratelimit-requests-reset': '2026-01-01T00:00:05Z',
    });
  });

  it('refuses without charging, naming the first family that does not fit', () => {
    const clock = wallClock('2026-01-01T00:00:00Z');
    const limits = resolveRateLimits({ inputTokens: 10, outputTokens: 20, tokens: 25 }, 'rateLimits');
    const limiter = createRateLimiter(limits, clock.now);
    const tooBig = limiter.admit(11, 1);
    expect(tooBig).toMatchObject({ admitted: false, family: 'input-tokens', limit: 10, retryAfterSeconds: 60 });
    expect(tooBig.admitted ? '' : tooBig.message).toBe(
      "This request would exceed your organization's rate limit of 10 input tokens per minute. " +
        'See the response headers for current usage, and try again after 2026-01-01T00:01:00Z.',
    );
    expect(limiter.headers()['anthropic-ratelimit-input-tokens-remaining']).toBe('10');
    expect(limiter.admit(6, 20)).toEqual({ admitted: true }); // output-tokens now 0, tokens 26 -> floor 0
    expect(limiter.headers()).toMatchObject({
      'anthropic-ratelimit-output-tokens-remaining': '0',
      'anthropic-ratelimit-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-remaining': '4',
      'anthropic-ratelimit-requests-remaining': '3999', // not scripted: informational, still counted
    });
    expect(limiter.admit(1, 1)).toMatchObject({ admitted: false, family: 'output-tokens' });
  });

  it('checks tokens against the input and needs at least one of each', () => {
    const clock = wallClock('2026-01-01T00:00:00Z');
    const limiter = createRateLimiter(resolveRateLimits({ tokens: 5 }, 'rateLimits'), clock.now);
    expect(limiter.admit(6, 0)).toMatchObject({ admitted: false, family: 'tokens' });
    expect(limiter.admit(0, 5)).toEqual({ admitted: true });
    expect(limiter.admit(0, 0)).toMatchObject({ admitted: false, family: 'tokens' });
  });

  it('configure() starts over with a fresh window', () => {
    const clock = wallClock('2026-01-01T00:00:00Z');
    const one = resolveRateLimits({ requests: 1 }, 'rateLimits');
    const limiter = createRateLimiter(one, clock.now);
    limiter.admit(1, 1);
    expect(limiter.admit(1, 1).admitted).toBe(false);
    clock.advance(10_000);
    limiter.configure(one);
    expect(limiter.admit(1, 1).admitted).toBe(true);
    expect(limiter.headers()['anthropic-ratelimit-requests-reset']).toBe('2026-01-01T00:01:10Z');
  });
});

describe('resolveRateLimits', () => {
  it('keeps only the counts that were set', () => {
    expect(resolveRateLimits({ requests: 5, outputTokens: 7 }, 'rateLimits')).toEqual({
      enforced: { requests: 5, 'output-tokens': 7 },
      windowMs: 60_000,
    });
    expect(resolveRateLimits({}, 'rateLimits')).toEqual(DEFAULT_RATE_LIMITS);
  });

  it.each([
    [5, TypeError, 'rateLimits must be an object'],
    [{ request: 5 }, TypeError, 'rateLimits: unknown key `request`'],
    [{ requests: 0 }, RangeError, 'rateLimits.requests must be a positive integer, got 0'],
    [{ inputTokens: 1.5 }, RangeError, 'rateLimits.inputTokens must be a positive integer, got 1.5'],
    [{ windowMs: 500 }, RangeError, 'rateLimits.windowMs must be a whole number of seconds in ms'],
    [{ windowMs: 1500 }, RangeError, 'rateLimits.windowMs must be a whole number of seconds in ms'],
  ])('rejects %j', (budget, type, message) => {
    expect(() => resolveRateLimits(budget, 'rateLimits')).toThrow(type);
    expect(() => resolveRateLimits(budget, 'rateLimits')).toThrow(message);
  });
});

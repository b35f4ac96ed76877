import { describe, expect, it } from 'vitest';
import { createRateLimitHeaders } from './rate-limit-headers.js';

describe('createRateLimitHeaders', () => {
  it('counts usage within the wall-clock minute and resets with the next one', () => {
    let time = Date.parse('2026-01-01T00:00:30.250Z');
    const headers = createRateLimitHeaders(() => time);
    headers(10, 5);
    const second = headers(1, 2);
    expect(second).toMatchObject({
      'anthropic-ratelimit-requests-limit': '4000',
      'anthropic-ratelimit-requests-remaining': '3998',
      'anthropic-ratelimit-input-tokens-remaining': String(2_000_000 - 11),
      'anthropic-ratelimit-output-tokens-remaining': String(400_000 - 7),
      'anthropic-ratelimit-tokens-remaining': String(2_400_000 - 18),
      'anthropic-ratelimit-requests-reset': '2026-01-01T00:01:00Z',
    });
    expect(Object.keys(second)).toHaveLength(12);
    time += 60_000;
    expect(headers(0, 0)).toMatchObject({
      'anthropic-ratelimit-requests-remaining': '3999',
      'anthropic-ratelimit-tokens-reset': '2026-01-01T00:02:00Z',
    });
  });
});

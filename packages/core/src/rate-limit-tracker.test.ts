import { describe, expect, it } from 'vitest';
import type { RateLimitName, RateLimitTrackerOptions } from './rate-limit-tracker.js';
import { createRateLimitTracker, isSpendLimitErrorCode } from './rate-limit-tracker.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');

function setup(options: Partial<RateLimitTrackerOptions> = {}) {
  let now = T0;
  const tracker = createRateLimitTracker({ clock: { now: () => now }, ...options });
  return { tracker, advance: (ms: number) => (now += ms), now: () => now };
}

type Limits = Partial<Record<RateLimitName, [limit: number, remaining: number, resetInMs: number]>>;

function headers(limits: Limits, extra: Record<string, string> = {}): Headers {
  const h = new Headers(extra);
  for (const [name, [limit, remaining, resetInMs]] of Object.entries(limits)) {
    h.set(`anthropic-ratelimit-${name}-limit`, String(limit));
    h.set(`anthropic-ratelimit-${name}-remaining`, String(remaining));
    h.set(`anthropic-ratelimit-${name}-reset`, new Date(T0 + resetInMs).toISOString().replace('.000Z', 'Z'));
  }
  return h;
}

describe('createRateLimitTracker', () => {
  it('lets anything through for a client it has not heard of', () => {
    const { tracker } = setup();
    expect(tracker.check('client_a', { estimatedInputTokens: 1_000_000 })).toEqual({ ok: true });
  });

  it('holds a client whose requests are used up until the reset, naming the limit, then lets it go', () => {
    const { tracker, advance } = setup();
    tracker.observe('client_a', { status: 200, headers: headers({ requests: [50, 0, 2_000] }) });
    expect(tracker.check('client_a', { estimatedInputTokens: 10 })).toEqual({
      ok: false,
      reason: 'rate-limit',
      limit: 'requests',
      errorCode: undefined,
      until: T0 + 2_000,
      retryAfterMs: 2_000,
      message:
        'The Anthropic rate limit on requests for this API key is used up (0 of 50 left) until 2026-03-01T12:00:02.000Z',
    });
    expect(tracker.check('client_b', { estimatedInputTokens: 10 }).ok).toBe(true);
    advance(1_999);
    expect(tracker.check('client_a', { estimatedInputTokens: 10 })).toMatchObject({ ok: false, retryAfterMs: 1 });
    advance(1);
    expect(tracker.check('client_a', { estimatedInputTokens: 10 })).toEqual({ ok: true });
  });

  it('keeps the configured reserve', () => {
    const { tracker } = setup({ reserve: { requests: 2, inputTokens: 50 } });
    tracker.observe('c', { status: 200, headers: headers({ requests: [50, 3, 60_000] }) });
    expect(tracker.check('c', { estimatedInputTokens: 1 }).ok).toBe(true);
    tracker.observe('c', { status: 200, headers: headers({ requests: [50, 2, 60_000] }) });
    expect(tracker.check('c', { estimatedInputTokens: 1 })).toMatchObject({
      ok: false,
      limit: 'requests',
      message: expect.stringContaining('(2 of 50 left, 2 kept in reserve)') as unknown,
    });
    tracker.observe('d', { status: 200, headers: headers({ 'input-tokens': [1_000, 150, 60_000] }) });
    expect(tracker.check('d', { estimatedInputTokens: 100 }).ok).toBe(true);
    expect(tracker.check('d', { estimatedInputTokens: 101 })).toMatchObject({ limit: 'input-tokens' });
  });

  it('compares the input estimate with the input and total tokens left, and output tokens with 1', () => {
    const { tracker } = setup();
    tracker.observe('c', {
      status: 200,
      headers: headers({ 'input-tokens': [10_000, 100, 30_000], tokens: [20_000, 5_000, 40_000] }),
    });
    expect(tracker.check('c', { estimatedInputTokens: 100 }).ok).toBe(true);
    expect(tracker.check('c', { estimatedInputTokens: 101 })).toMatchObject({
      limit: 'input-tokens',
      until: T0 + 30_000,
    });
    // A request that could not fit even in a whole limit is left to the upstream: waiting would not help.
    expect(tracker.check('c', { estimatedInputTokens: 10_001 })).toMatchObject({ limit: 'tokens' });
    expect(tracker.check('c', { estimatedInputTokens: 20_001 }).ok).toBe(true);
    tracker.observe('c', { status: 200, headers: headers({ 'output-tokens': [4_000, 0, 10_000] }) });
    expect(tracker.check('c', { estimatedInputTokens: 1 })).toMatchObject({ limit: 'output-tokens' });
  });

  it('waits for the latest reset when several limits are spent', () => {
    const { tracker } = setup();
    tracker.observe('c', {
      status: 200,
      headers: headers({ requests: [50, 0, 5_000], 'input-tokens': [1_000, 0, 9_000], tokens: [9_000, 0, 7_000] }),
    });
    expect(tracker.check('c', { estimatedInputTokens: 10 })).toMatchObject({
      limit: 'input-tokens',
      until: T0 + 9_000,
    });
  });

  it('counts the requests it lets through until the next answer; the next answer is the truth', () => {
    const { tracker } = setup();
    tracker.observe('c', {
      status: 200,
      headers: headers({ requests: [50, 2, 60_000], tokens: [1_000, 500, 60_000] }),
    });
    tracker.estimate('c', 200);
    expect(tracker.check('c', { estimatedInputTokens: 200 }).ok).toBe(true);
    tracker.estimate('c', 200);
    expect(tracker.check('c', { estimatedInputTokens: 1 })).toMatchObject({ limit: 'requests' });
    expect(tracker.snapshot()[0]?.limits).toMatchObject({ requests: { remaining: 0 }, tokens: { remaining: 100 } });
    // A new window (a later reset): its answer is the truth.
    tracker.observe('c', { status: 200, headers: headers({ requests: [50, 40, 61_000] }) });
    expect(tracker.check('c', { estimatedInputTokens: 1 }).ok).toBe(true);
  });

  it('within one window, keeps the lower request count: an answer does not count the requests still in flight', () => {
    const { tracker } = setup();
    tracker.observe('c', { status: 200, headers: headers({ requests: [5, 3, 60_000] }) });
    for (let i = 0; i < 3; i++) tracker.estimate('c', 1);
    // The answer to the first of the three, written before the other two arrived: 2 left, it says.
    tracker.observe('c', { status: 200, headers: headers({ requests: [5, 2, 60_000] }) });
    expect(tracker.check('c', { estimatedInputTokens: 1 })).toMatchObject({ ok: false, limit: 'requests' });
    // An answer of an earlier window, arriving late, changes nothing.
    tracker.observe('c', { status: 200, headers: headers({ requests: [5, 4, 30_000] }) });
    expect(tracker.snapshot()[0]?.limits.requests).toMatchObject({ remaining: 0 });
  });

  it('after a reset, counts what it sends from the whole limit until an answer: held requests do not all go at once', () => {
    const { tracker, advance, now } = setup();
    tracker.observe('client_a', { status: 200, headers: headers({ requests: [3, 0, 1_000] }) });
    advance(1_000);
    for (let i = 0; i < 3; i++) {
      expect(tracker.check('client_a', { estimatedInputTokens: 1 }).ok).toBe(true);
      tracker.estimate('client_a', 1);
    }
    const verdict = tracker.check('client_a', { estimatedInputTokens: 1 });
    expect(verdict).toMatchObject({ ok: false, reason: 'rate-limit', limit: 'requests', until: now() + 250 });
    // The next answer tells when the new window ends; its count cannot undo the three sent blind.
    tracker.observe('client_a', { status: 200, headers: headers({ requests: [3, 1, 3_000] }) });
    expect(tracker.check('client_a', { estimatedInputTokens: 1 })).toMatchObject({ ok: false, until: T0 + 3_000 });
  });

  it('ignores malformed or partial rate-limit headers', () => {
    const { tracker } = setup();
    const bad = new Headers({
      'anthropic-ratelimit-requests-limit': '1e3',
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': '2026-03-01T12:00:02Z',
      'anthropic-ratelimit-tokens-limit': '100',
      'anthropic-ratelimit-tokens-remaining': '-1',
      'anthropic-ratelimit-tokens-reset': '2026-03-01T12:00:02Z',
      'anthropic-ratelimit-input-tokens-limit': '100',
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': 'tomorrow',
      'anthropic-ratelimit-output-tokens-limit': '100',
      'anthropic-ratelimit-output-tokens-remaining': '0',
    });
    tracker.observe('c', { status: 200, headers: bad });
    expect(tracker.check('c', { estimatedInputTokens: 10 }).ok).toBe(true);
    expect(tracker.snapshot()[0]?.limits).toEqual({});
  });

  it('pauses a client for the retry-after of a 429, whichever route got it, and ramp limits alike', () => {
    const { tracker, advance } = setup();
    expect(
      tracker.observe('c', { status: 429, headers: new Headers({ 'retry-after': '3' }), message: 'slow down' }),
    ).toEqual({ reason: 'paused', until: T0 + 3_000, errorCode: undefined });
    const paused = tracker.check('c', { estimatedInputTokens: 1 });
    expect(paused).toEqual({
      ok: false,
      reason: 'paused',
      limit: undefined,
      errorCode: undefined,
      until: T0 + 3_000,
      retryAfterMs: 3_000,
      message: 'The Anthropic API answered 429 rate_limit_error; this API key is paused until 2026-03-01T12:00:03.000Z',
    });
    expect(tracker.check('other', { estimatedInputTokens: 1 }).ok).toBe(true);
    // A shorter pause does not shorten it; a longer one extends it.
    expect(tracker.observe('c', { status: 429, headers: new Headers({ 'retry-after-ms': '500' }) })).toBeUndefined();
    expect(tracker.check('c', { estimatedInputTokens: 1 })).toMatchObject({ until: T0 + 3_000 });
    tracker.observe('c', {
      status: 429,
      headers: new Headers({ 'retry-after': '5' }),
      errorCode: 'ramp_limit_exceeded',
    });
    expect(tracker.check('c', { estimatedInputTokens: 1 })).toMatchObject({
      reason: 'paused',
      errorCode: 'ramp_limit_exceeded',
      until: T0 + 5_000,
      message: expect.stringContaining('429 rate_limit_error (ramp_limit_exceeded)') as unknown,
    });
    advance(5_000);
    expect(tracker.check('c', { estimatedInputTokens: 1 }).ok).toBe(true);
    // No retry-after: nothing to pause for (the retry loop backs off on its own).
    tracker.observe('c', { status: 429, headers: new Headers() });
    expect(tracker.check('c', { estimatedInputTokens: 1 }).ok).toBe(true);
    // Not a 429: retry-after is the breaker's business, not a rate limit.
    tracker.observe('c', { status: 529, headers: new Headers({ 'retry-after': '9' }) });
    expect(tracker.check('c', { estimatedInputTokens: 1 }).ok).toBe(true);
  });

  it('reports the later of a pause and a spent limit', () => {
    const { tracker } = setup();
    tracker.observe('c', { status: 429, headers: headers({ requests: [50, 0, 10_000] }, { 'retry-after': '2' }) });
    expect(tracker.check('c', { estimatedInputTokens: 1 })).toMatchObject({ reason: 'rate-limit', until: T0 + 10_000 });
    tracker.observe('d', { status: 429, headers: headers({ requests: [50, 0, 1_000] }, { 'retry-after': '2' }) });
    expect(tracker.check('d', { estimatedInputTokens: 1 })).toMatchObject({ reason: 'paused', until: T0 + 2_000 });
  });

  it('holds a client after a spend-limit 429 with the redacted message, until retry-after or spendLimitHoldMs', () => {
    const { tracker, advance } = setup({ spendLimitHoldMs: 30_000 });
    const hold = tracker.observe('c', {
      status: 429,
      headers: headers({ requests: [50, 49, 60_000] }),
      errorCode: 'enforced_spend_limit_reached',
      message: 'You have reached your monthly usage limit [redacted]',
    });
    expect(hold).toEqual({ reason: 'spend-limit', until: T0 + 30_000, errorCode: 'enforced_spend_limit_reached' });
    expect(tracker.check('c', { estimatedInputTokens: 1 })).toEqual({
      ok: false,
      reason: 'spend-limit',
      limit: undefined,
      errorCode: 'enforced_spend_limit_reached',
      until: T0 + 30_000,
      retryAfterMs: 30_000,
      message:
        'You have reached your monthly usage limit [redacted] (enforced_spend_limit_reached); ' +
        'this API key is held until 2026-03-01T12:00:30.000Z',
    });
    // A plain pause never shortens (or replaces) a spend-limit hold.
    expect(tracker.observe('c', { status: 429, headers: new Headers({ 'retry-after': '1' }) })).toBeUndefined();
    expect(tracker.check('c', { estimatedInputTokens: 1 })).toMatchObject({ reason: 'spend-limit' });
    advance(30_000);
    expect(tracker.check('c', { estimatedInputTokens: 1 }).ok).toBe(true);

    tracker.observe('c', {
      status: 429,
      headers: new Headers({ 'retry-after': '3600' }),
      errorCode: 'contract_spend_limit_reached',
      message: 'x'.repeat(2_000),
    });
    const held = tracker.check('c', { estimatedInputTokens: 1 });
    expect(held).toMatchObject({ reason: 'spend-limit', retryAfterMs: 3_600_000 });
    expect(held.ok ? '' : held.message).toMatch(
      /^x{500} \(contract_spend_limit_reached\); this API key is held until /,
    );
  });

  it('reconciles the estimate with usage when no newer headers came, and learns how far off it is', () => {
    const { tracker } = setup();
    tracker.observe('c', {
      status: 200,
      headers: headers({
        'input-tokens': [10_000, 1_000, 60_000],
        'output-tokens': [10_000, 1_000, 60_000],
        tokens: [20_000, 2_000, 60_000],
      }),
    });
    const ticket = tracker.estimate('c', 100);
    expect(ticket).toEqual({ clientId: 'c', estimated: 100, debited: 100, generation: 1 });
    tracker.reconcile(ticket, { input_tokens: 200, output_tokens: 50 });
    expect(tracker.snapshot()[0]?.limits).toMatchObject({
      'input-tokens': { remaining: 800 },
      'output-tokens': { remaining: 950 },
      tokens: { remaining: 1_750 },
    });
    // Actual 2x the estimate: the ratio moves a fifth of the way there, and later estimates use it.
    expect(tracker.snapshot()[0]?.estimateRatio).toBeCloseTo(1.2);
    expect(tracker.estimate('c', 100).debited).toBe(120);

    // Newer headers replace the views: reconciling then only calibrates.
    const stale = tracker.estimate('c', 100);
    tracker.observe('c', { status: 200, headers: headers({ 'input-tokens': [10_000, 5_000, 60_000] }) });
    tracker.reconcile(stale, { input_tokens: 100, output_tokens: 10 });
    expect(tracker.snapshot()[0]?.limits['input-tokens']).toMatchObject({ remaining: 5_000 });
    for (let i = 0; i < 50; i++) tracker.reconcile(tracker.estimate('c', 100), { input_tokens: 10_000 });
    expect(tracker.snapshot()[0]?.estimateRatio).toBeCloseTo(4);
    tracker.reconcile(stale, undefined);
    tracker.reconcile(stale, { input_tokens: null });
  });

  it('snapshots every client as plain data', () => {
    const { tracker } = setup();
    tracker.observe('client_a', { status: 200, headers: headers({ requests: [50, 10, 60_000] }) });
    tracker.observe('client_b', { status: 429, headers: new Headers({ 'retry-after': '2' }) });
    const snapshot = tracker.snapshot();
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual([
      {
        clientId: 'client_a',
        limits: { requests: { limit: 50, remaining: 10, resetAt: '2026-03-01T12:01:00.000Z' } },
        estimateRatio: 1,
      },
      {
        clientId: 'client_b',
        limits: {},
        hold: { reason: 'paused', until: '2026-03-01T12:00:02.000Z', message: '' },
        estimateRatio: 1,
      },
    ]);
  });

  it('forgets the client heard from least recently beyond maxClients', () => {
    const { tracker } = setup({ maxClients: 2 });
    const spent = { status: 200, headers: headers({ requests: [50, 0, 60_000] }) };
    tracker.observe('a', spent);
    tracker.observe('b', spent);
    tracker.observe('a', spent);
    tracker.observe('c', spent);
    expect(tracker.snapshot().map((view) => view.clientId)).toEqual(['a', 'c']);
    expect(tracker.check('b', { estimatedInputTokens: 1 }).ok).toBe(true);
  });

  it('validates its options, naming them', () => {
    const clock = { now: () => T0 };
    expect(() => createRateLimitTracker({ clock, reserve: { 'input-tokens': 1 } as never })).toThrow(
      "createRateLimitTracker: options.reserve has an unknown key 'input-tokens' (known: requests, inputTokens, outputTokens, tokens)",
    );
    expect(() => createRateLimitTracker({ clock, reserve: { inputTokens: -1 } })).toThrow(
      'options.reserve.inputTokens must be a non-negative integer, got -1',
    );
    expect(() => createRateLimitTracker({ clock, spendLimitHoldMs: Infinity })).toThrow(
      'options.spendLimitHoldMs must be a finite number >= 0, got Infinity',
    );
    expect(() => createRateLimitTracker({ clock, maxClients: 0 })).toThrow(
      'options.maxClients must be a positive integer, got 0',
    );
    expect(() => createRateLimitTracker({} as never)).toThrow('options.clock must be a Clock');
  });
});

describe('isSpendLimitErrorCode', () => {
  it('knows the two spend limits, not the ramp limit', () => {
    expect(isSpendLimitErrorCode('enforced_spend_limit_reached')).toBe(true);
    expect(isSpendLimitErrorCode('contract_spend_limit_reached')).toBe(true);
    expect(isSpendLimitErrorCode('ramp_limit_exceeded')).toBe(false);
    expect(isSpendLimitErrorCode(null)).toBe(false);
    expect(isSpendLimitErrorCode(undefined)).toBe(false);
  });
});

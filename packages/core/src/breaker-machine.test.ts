import { describe, expect, it } from 'vitest';
import {
  admitToBreaker,
  advanceBreaker,
  breakerCounts,
  breakerRetryAfterMs,
  initialBreakerState,
  settleInBreaker,
  type BreakerMachineState,
  type BreakerRules,
  type BreakerVerdict,
} from './breaker-machine.js';

// Time is a number passed in: every test below is its own manual clock.
const RULES: BreakerRules = {
  errorThresholdPercentage: 50,
  volumeThreshold: 4,
  rollingCountTimeout: 1_000,
  rollingCountBuckets: 4,
  resetTimeout: 5_000,
  minTrialBudgetMs: 100,
};

/** One call, admitted and judged at `now`, as RouteBreaker runs it. */
function call(state: BreakerMachineState, verdict: BreakerVerdict, now: number, budgetMs = Infinity) {
  const half = advanceBreaker(state, now, RULES);
  const admission = admitToBreaker(state, budgetMs, RULES);
  if (admission === 'reject' || admission === 'refuse') return { half, admission, moved: undefined };
  const trial = admission === 'trial' ? state.trial : 0;
  return { half, admission, moved: settleInBreaker(state, verdict, trial, now, RULES) };
}

/** A breaker opened at `at` by four failures. */
function opened(at: number): BreakerMachineState {
  const state = initialBreakerState(at, RULES);
  for (let i = 0; i < 3; i++) expect(call(state, 'failure', at).moved).toBeUndefined();
  expect(call(state, 'failure', at).moved).toBe('open');
  return state;
}

describe('breaker state machine', () => {
  it('starts closed with an empty window', () => {
    const state = initialBreakerState(10_000, RULES);
    expect(state).toMatchObject({ state: 'closed', trial: 0, neutral: 0, bucket: 40 });
    expect(state.window).toHaveLength(4);
    expect(breakerCounts(state)).toEqual({ fires: 0, successes: 0, failures: 0, rejects: 0 });
    expect(breakerRetryAfterMs(state, 10_000, RULES)).toBe(0);
  });

  it('does not open below volumeThreshold, however many of the calls failed', () => {
    const state = initialBreakerState(0, RULES);
    for (let i = 0; i < 3; i++) expect(call(state, 'failure', 10).moved).toBeUndefined();
    expect(state.state).toBe('closed');
    expect(breakerCounts(state)).toMatchObject({ fires: 3, failures: 3 });
  });

  it('opens only above errorThresholdPercentage: exactly 50 % keeps it closed', () => {
    const state = initialBreakerState(0, RULES);
    call(state, 'success', 0);
    call(state, 'success', 0);
    call(state, 'failure', 0);
    expect(call(state, 'failure', 0).moved).toBeUndefined(); // 2 of 4
    expect(state.state).toBe('closed');
    expect(call(state, 'failure', 0).moved).toBe('open'); // 3 of 5
    expect(state).toMatchObject({ state: 'open', openedAt: 0 });
  });

  it('neutral calls are fires that are neither successes nor failures: they dilute the percentage', () => {
    const state = initialBreakerState(0, RULES);
    call(state, 'neutral', 0);
    call(state, 'neutral', 0);
    call(state, 'failure', 0);
    expect(call(state, 'failure', 0).moved).toBeUndefined(); // 2 of 4 fires
    expect(state.neutral).toBe(2);
    expect(breakerCounts(state)).toEqual({ fires: 4, successes: 0, failures: 2, rejects: 0 });
  });

  it('open rejects (a fire and a reject) until resetTimeout, then half-open is due exactly then, with no timer', () => {
    const state = opened(1_000);
    const rejected = call(state, 'success', 5_999);
    expect(rejected).toEqual({ half: undefined, admission: 'reject', moved: undefined });
    expect(breakerRetryAfterMs(state, 5_999, RULES)).toBe(1);
    expect(state.state).toBe('open');
    expect(advanceBreaker(state, 6_000, RULES)).toBe('half-open');
    expect(state).toMatchObject({ state: 'half-open', trial: 0 });
    expect(breakerRetryAfterMs(state, 6_000, RULES)).toBe(1_000);
    // Reported once: asking again moves nothing.
    expect(advanceBreaker(state, 6_001, RULES)).toBeUndefined();
  });

  it('half-open hands out one trial slot; every other call is rejected while it runs', () => {
    const state = opened(0);
    advanceBreaker(state, 5_000, RULES);
    expect(admitToBreaker(state, Infinity, RULES)).toBe('trial');
    const trial = state.trial;
    expect(trial).toBeGreaterThan(0);
    const before = breakerCounts(state);
    expect(admitToBreaker(state, Infinity, RULES)).toBe('reject');
    expect(admitToBreaker(state, 1, RULES)).toBe('reject'); // slot taken: a plain reject, not a refusal
    expect(breakerCounts(state)).toMatchObject({ fires: before.fires + 2, rejects: before.rejects + 2 });
    expect(settleInBreaker(state, 'success', trial, 5_010, RULES)).toBe('close');
    expect(state).toMatchObject({ state: 'closed', trial: 0 });
  });

  it('a failed trial re-opens it for another resetTimeout, from the failure', () => {
    const state = opened(0);
    advanceBreaker(state, 5_000, RULES);
    admitToBreaker(state, Infinity, RULES);
    expect(settleInBreaker(state, 'failure', state.trial, 5_300, RULES)).toBe('open');
    expect(state).toMatchObject({ state: 'open', openedAt: 5_300, trial: 0 });
    expect(advanceBreaker(state, 10_299, RULES)).toBeUndefined();
    expect(advanceBreaker(state, 10_300, RULES)).toBe('half-open');
  });

  it('a neutral trial frees the slot and moves nothing; the next call is the trial', () => {
    const state = opened(0);
    advanceBreaker(state, 5_000, RULES);
    expect(admitToBreaker(state, Infinity, RULES)).toBe('trial');
    const first = state.trial;
    expect(settleInBreaker(state, 'neutral', first, 5_020, RULES)).toBeUndefined();
    expect(state).toMatchObject({ state: 'half-open', trial: 0, neutral: 1 });
    expect(admitToBreaker(state, Infinity, RULES)).toBe('trial');
    expect(state.trial).not.toBe(first);
  });

  it('a late neutral verdict of an earlier trial does not free a later trial’s slot', () => {
    const state = opened(0);
    advanceBreaker(state, 5_000, RULES);
    admitToBreaker(state, Infinity, RULES);
    const early = state.trial;
    // Another call's failure re-opens it while the early trial is still running; half-open again later.
    expect(settleInBreaker(state, 'failure', 0, 5_100, RULES)).toBe('open');
    advanceBreaker(state, 10_100, RULES);
    admitToBreaker(state, Infinity, RULES);
    const later = state.trial;
    expect(settleInBreaker(state, 'neutral', early, 10_150, RULES)).toBeUndefined();
    expect(state.trial).toBe(later);
    expect(admitToBreaker(state, Infinity, RULES)).toBe('reject');
  });

  it('half-open with the slot free, a call with less than minTrialBudgetMs is refused: a reject, no fire', () => {
    const state = opened(0);
    advanceBreaker(state, 5_000, RULES);
    const before = breakerCounts(state);
    expect(admitToBreaker(state, 99, RULES)).toBe('refuse');
    expect(state.trial).toBe(0);
    expect(breakerCounts(state)).toEqual({ ...before, rejects: before.rejects + 1 });
    expect(admitToBreaker(state, 100, RULES)).toBe('trial');
  });

  it('a success or failure of a call that began before the breaker opened still counts while half-open', () => {
    const success = opened(0);
    advanceBreaker(success, 5_000, RULES);
    expect(settleInBreaker(success, 'success', 0, 5_000, RULES)).toBe('close');
    const failure = opened(0);
    advanceBreaker(failure, 5_000, RULES);
    expect(settleInBreaker(failure, 'failure', 0, 5_000, RULES)).toBe('open');
  });

  it('verdicts while open count but move nothing: no second open, openedAt kept', () => {
    const state = opened(0);
    expect(settleInBreaker(state, 'failure', 0, 2_000, RULES)).toBeUndefined();
    expect(settleInBreaker(state, 'success', 0, 2_000, RULES)).toBeUndefined();
    expect(state).toMatchObject({ state: 'open', openedAt: 0 });
  });

  it('rotates the window bucket by bucket on multiples of the bucket length, and forgets a long idle time at once', () => {
    const state = initialBreakerState(0, RULES); // buckets of 250 ms
    call(state, 'failure', 0);
    call(state, 'failure', 249);
    call(state, 'success', 250);
    expect(breakerCounts(state)).toMatchObject({ fires: 3, failures: 2 });
    advanceBreaker(state, 999, RULES);
    expect(breakerCounts(state)).toMatchObject({ fires: 3, failures: 2 });
    advanceBreaker(state, 1_000, RULES); // the bucket [0, 250) leaves
    expect(breakerCounts(state)).toMatchObject({ fires: 1, failures: 0, successes: 1 });
    advanceBreaker(state, 1_250, RULES);
    expect(breakerCounts(state).fires).toBe(0);
    call(state, 'failure', 1_300);
    advanceBreaker(state, 1_000_000, RULES);
    expect(breakerCounts(state).fires).toBe(0);
    expect(state.window).toHaveLength(4);
    expect(state.bucket).toBe(4_000);
  });

  it('a clock that steps back rotates nothing and loses no count', () => {
    const state = initialBreakerState(10_000, RULES);
    call(state, 'failure', 10_000);
    advanceBreaker(state, 9_000, RULES);
    expect(state.bucket).toBe(40);
    expect(breakerCounts(state).failures).toBe(1);
  });

  it('failures spread over the window open it; the same failures spread over more than the window do not', () => {
    const within = initialBreakerState(0, RULES);
    const moved = [0, 250, 500, 750].map((at) => call(within, 'failure', at).moved);
    expect(moved).toEqual([undefined, undefined, undefined, 'open']);
    const beyond = initialBreakerState(0, RULES);
    const apart = [0, 400, 800, 1_200].map((at) => call(beyond, 'failure', at).moved);
    expect(apart).toEqual([undefined, undefined, undefined, undefined]);
    expect(beyond.state).toBe('closed');
  });

  it('is a plain object: a JSON round trip carries on exactly where it left off', () => {
    const state = opened(0);
    advanceBreaker(state, 5_000, RULES);
    admitToBreaker(state, Infinity, RULES);
    const trial = state.trial;
    const copy = JSON.parse(JSON.stringify(state)) as BreakerMachineState;
    expect(copy).toEqual(state);
    expect(admitToBreaker(copy, Infinity, RULES)).toBe('reject');
    expect(settleInBreaker(copy, 'success', trial, 5_050, RULES)).toBe('close');
    expect(copy.state).toBe('closed');
  });
});

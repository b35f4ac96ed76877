import { describe, expect, it } from 'vitest';
import { ADAPTERS, NO_RESERVE, expectAnthropicError, useStack, type HttpResult, type Stack } from '../support/index.js';

/** Sends requests one after another and returns how many upstream attempts each one made. */
async function attemptsPerRequest(h: Stack, send: () => Promise<HttpResult>, count: number): Promise<number[]> {
  const attempts: number[] = [];
  for (let i = 0; i < count; i++) {
    const before = h.fake.requests.length;
    const result = await send();
    expect(result.status).toBe(529);
    expect(expectAnthropicError(result).type).toBe('overloaded_error');
    attempts.push(h.fake.requests.length - before);
  }
  return attempts;
}

describe.each(ADAPTERS)('retry budget (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  it('lets the first request retry and refuses retries once the budget is spent', async () => {
    // A reserve of 0.2 retries/s over 10 s = 2 retries, and no share per request.
    const h = await start(adapter, {
      guard: {
        retryBudget: { minRetriesPerSecond: 0.2, percentCanRetry: 0, ttlMs: 10_000 },
        breaker: { enabled: false },
      },
    });
    h.fake.setDefault({ faultRate: 1, fault: 529 });
    expect(await attemptsPerRequest(h, () => h.chat(), 3)).toEqual([3, 1, 1]);
    expect(h.events.filter((e) => e.type === 'retry-budget-rejected')).toHaveLength(2);
    expect(h.events.filter((e) => e.type === 'give-up').map((e) => (e.type === 'give-up' ? e.reason : ''))).toEqual([
      'attempts-exhausted',
      'retry-budget',
      'retry-budget',
    ]);
  });

  it('with minRetriesPerSecond 1 over the 10 s window, grants 10 retries in all, then none', async () => {
    const h = await start(adapter, {
      guard: { retryBudget: { minRetriesPerSecond: 1, percentCanRetry: 0 }, breaker: { enabled: false } },
    });
    h.fake.setDefault({ faultRate: 1, fault: 529 });
    expect(await attemptsPerRequest(h, () => h.proxy(), 7)).toEqual([3, 3, 3, 3, 3, 1, 1]);
  });

  it('is shared by every route of the guard', async () => {
    const h = await start(adapter, {
      guard: {
        retryBudget: { minRetriesPerSecond: 0.2, percentCanRetry: 0, ttlMs: 10_000 },
        breaker: { enabled: false },
      },
    });
    h.fake.setDefault({ faultRate: 1, fault: 529 });
    expect(await attemptsPerRequest(h, () => h.chat(), 1)).toEqual([3]);
    expect(await attemptsPerRequest(h, () => h.proxy(), 1)).toEqual([1]);
    expect(await attemptsPerRequest(h, () => h.send('/run', { message: 'hi' }), 1)).toEqual([1]);
  });

  it('with retryBudget: false, every request may retry', async () => {
    const h = await start(adapter, { guard: { retryBudget: false, breaker: { enabled: false } } });
    h.fake.setDefault({ faultRate: 1, fault: 529 });
    expect(await attemptsPerRequest(h, () => h.chat(), 4)).toEqual([3, 3, 3, 3]);
  });
});

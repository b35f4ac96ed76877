import { describe, expect, it, vi } from 'vitest';
import { createRetryBudget } from './retry-budget.js';

function clock(start = 0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function drain(budget: { tryWithdraw(): boolean }, limit = 10_000): number {
  let granted = 0;
  while (granted < limit && budget.tryWithdraw()) granted++;
  return granted;
}

describe('createRetryBudget', () => {
  it('grants the reserve of minRetriesPerSecond * ttl with no traffic (defaults: 10/s over 10 s)', () => {
    const { now } = clock();
    const budget = createRetryBudget({ now });
    expect(budget.balance()).toBe(100);
    expect(drain(budget)).toBe(100);
    expect(budget.balance()).toBe(0);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('adds percentCanRetry per recorded request', () => {
    const { now } = clock();
    const budget = createRetryBudget({ percentCanRetry: 0.2, minRetriesPerSecond: 0, now });
    expect(budget.tryWithdraw()).toBe(false);
    for (let i = 0; i < 10; i++) budget.recordRequest();
    expect(budget.balance()).toBe(2);
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
    budget.recordRequest(); // 11 * 0.2 = 2.2: still no whole retry left
    expect(budget.tryWithdraw()).toBe(false);
    for (let i = 0; i < 4; i++) budget.recordRequest(); // 15 * 0.2 = 3
    expect(budget.tryWithdraw()).toBe(true);
  });

  it('does not lose whole retries to float error', () => {
    const { now } = clock();
    const budget = createRetryBudget({ percentCanRetry: 0.1, minRetriesPerSecond: 0, now });
    for (let i = 0; i < 30; i++) budget.recordRequest();
    expect(drain(budget)).toBe(3);
  });

  it('combines reserve and percentage', () => {
    const { now } = clock();
    const budget = createRetryBudget({ percentCanRetry: 0.5, minRetriesPerSecond: 1, ttlMs: 2000, now });
    for (let i = 0; i < 4; i++) budget.recordRequest();
    expect(budget.balance()).toBe(4); // 1 * 2 + 0.5 * 4
    expect(drain(budget)).toBe(4);
  });

  it('refills as withdrawals age out of the window', () => {
    const { now, advance } = clock(1_000_000);
    const budget = createRetryBudget({ percentCanRetry: 0, minRetriesPerSecond: 1, ttlMs: 10_000, now });
    expect(drain(budget)).toBe(10);
    advance(5_000);
    expect(budget.tryWithdraw()).toBe(false);
    advance(4_999); // 9.999 s later: the first bucket is still inside the window
    expect(budget.balance()).toBe(0);
    advance(1); // exactly one window later the first bucket expires
    expect(budget.balance()).toBe(10);
    expect(drain(budget)).toBe(10);
  });

  it('slides bucket by bucket', () => {
    const { now, advance } = clock();
    const budget = createRetryBudget({ percentCanRetry: 0, minRetriesPerSecond: 0.5, ttlMs: 10_000, now });
    // Reserve 5; spend one retry per second.
    for (let s = 0; s < 5; s++) {
      expect(budget.tryWithdraw()).toBe(true);
      advance(1000);
    }
    expect(budget.tryWithdraw()).toBe(false);
    advance(4000); // t = 9 s: nothing expired yet
    expect(budget.balance()).toBe(0);
    advance(1000); // t = 10 s: the retry from t = 0 expires
    expect(budget.balance()).toBe(1);
    advance(2000); // t = 12 s: those from t = 1 s and 2 s too
    expect(budget.balance()).toBe(3);
  });

  it('expires requests too, shrinking the percentage part', () => {
    const { now, advance } = clock();
    const budget = createRetryBudget({ percentCanRetry: 1, minRetriesPerSecond: 0, ttlMs: 1000, now });
    for (let i = 0; i < 5; i++) budget.recordRequest();
    expect(budget.balance()).toBe(5);
    advance(1000);
    expect(budget.balance()).toBe(0);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('clears everything after a long idle gap', () => {
    const { now, advance } = clock();
    const budget = createRetryBudget({ percentCanRetry: 0, minRetriesPerSecond: 1, ttlMs: 1000, now });
    expect(drain(budget)).toBe(1);
    advance(1_000_000);
    expect(budget.balance()).toBe(1);
  });

  it('treats a clock going backwards as standing still', () => {
    const { now, advance } = clock(50_000);
    const budget = createRetryBudget({ percentCanRetry: 0, minRetriesPerSecond: 1, ttlMs: 3000, now });
    expect(drain(budget)).toBe(3);
    advance(-40_000);
    expect(budget.balance()).toBe(0);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('never reports a negative balance when requests expire before their retries', () => {
    const { now, advance } = clock();
    const budget = createRetryBudget({ percentCanRetry: 1, minRetriesPerSecond: 0, ttlMs: 1000, now });
    for (let i = 0; i < 3; i++) budget.recordRequest();
    advance(500);
    expect(drain(budget)).toBe(3);
    advance(500); // the requests expire, the retries are still in the window
    expect(budget.balance()).toBe(0);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('uses Date.now by default', () => {
    let t = 1_700_000_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => t);
    const budget = createRetryBudget({ percentCanRetry: 0, minRetriesPerSecond: 0.1, ttlMs: 60_000 });
    expect(drain(budget)).toBe(6);
    t += 60_000;
    expect(budget.balance()).toBe(6);
  });

  it.each([
    ['percentCanRetry', { percentCanRetry: -0.1 }],
    ['percentCanRetry', { percentCanRetry: Number.NaN }],
    ['minRetriesPerSecond', { minRetriesPerSecond: Infinity }],
    ['minRetriesPerSecond', { minRetriesPerSecond: -1 }],
    ['ttlMs', { ttlMs: 0 }],
    ['ttlMs', { ttlMs: Number.POSITIVE_INFINITY }],
    ['now', { now: 5 as unknown as () => number }],
  ])('rejects a bad %s with a TypeError naming it', (name, options) => {
    expect(() => createRetryBudget(options)).toThrow(TypeError);
    expect(() => createRetryBudget(options)).toThrow(`options.${name}`);
  });
});

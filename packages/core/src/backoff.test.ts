import { describe, expect, it, vi } from 'vitest';
import { exponentialBackoff } from './backoff.js';

describe('exponentialBackoff', () => {
  it('doubles from 500 ms up to the 8 s cap with random() = 1', () => {
    const backoff = exponentialBackoff({ random: () => 1 });
    expect([0, 1, 2, 3, 4, 5, 6].map(backoff)).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('scales the ceiling by random() (full jitter)', () => {
    const backoff = exponentialBackoff({ random: () => 0.5 });
    expect([0, 1, 2, 3, 4, 5].map(backoff)).toEqual([250, 500, 1000, 2000, 4000, 4000]);
    expect(exponentialBackoff({ random: () => 0 })(3)).toBe(0);
  });

  it('floors to whole milliseconds', () => {
    const backoff = exponentialBackoff({ baseMs: 3, capMs: 100, random: () => 0.5 });
    expect([0, 1, 2].map(backoff)).toEqual([1, 3, 6]);
  });

  it('calls random once per delay', () => {
    const random = vi.fn(() => 0.25);
    const backoff = exponentialBackoff({ random });
    backoff(0);
    backoff(1);
    expect(random).toHaveBeenCalledTimes(2);
  });

  it('uses custom base and cap', () => {
    const backoff = exponentialBackoff({ baseMs: 100, capMs: 350, random: () => 1 });
    expect([0, 1, 2, 3].map(backoff)).toEqual([100, 200, 350, 350]);
  });

  it('allows cap equal to base', () => {
    const backoff = exponentialBackoff({ baseMs: 200, capMs: 200, random: () => 1 });
    expect([0, 1, 10].map(backoff)).toEqual([200, 200, 200]);
  });

  it('saturates at the cap for huge indices instead of overflowing', () => {
    const backoff = exponentialBackoff({ random: () => 1 });
    for (const index of [30, 1023, 1024, 1100, 1e9, Number.MAX_SAFE_INTEGER, Infinity]) {
      expect(backoff(index)).toBe(8000);
    }
  });

  it('treats negative, fractional and NaN indices as floor(max(0, index))', () => {
    const backoff = exponentialBackoff({ random: () => 1 });
    expect(backoff(-3)).toBe(500);
    expect(backoff(Number.NaN)).toBe(500);
    expect(backoff(1.9)).toBe(1000);
  });

  it('clamps a misbehaving random into [0, ceiling]', () => {
    expect(exponentialBackoff({ random: () => 7 })(0)).toBe(500);
    expect(exponentialBackoff({ random: () => -1 })(0)).toBe(0);
    expect(exponentialBackoff({ random: () => Number.NaN })(0)).toBe(0);
  });

  it('defaults to Math.random', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    expect(exponentialBackoff()(1)).toBe(500);
  });

  it.each([
    ['baseMs', { baseMs: 0 }],
    ['baseMs', { baseMs: -1 }],
    ['baseMs', { baseMs: Number.NaN }],
    ['capMs', { capMs: Infinity }],
    ['capMs', { capMs: 0 }],
    ['capMs', { baseMs: 1000, capMs: 999 }],
  ])('rejects a bad %s with a TypeError naming it', (name, options) => {
    expect(() => exponentialBackoff(options)).toThrow(TypeError);
    expect(() => exponentialBackoff(options)).toThrow(`options.${name}`);
  });

  it('rejects a random that is not a function', () => {
    expect(() => exponentialBackoff({ random: 0.5 as unknown as () => number })).toThrow(/options\.random/);
  });
});

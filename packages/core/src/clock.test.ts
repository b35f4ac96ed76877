import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { abortAsPromise, raceWithTimeout, sleep, systemClock, withTimeout } from './clock.js';

describe('the timer toolkit on the injected clock', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sleep resolves after its time and leaves nothing behind', async () => {
    const controller = new AbortController();
    let done = false;
    const slept = sleep(systemClock, 100, controller.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await slept;
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sleep rejects with the abort reason and clears its timer', async () => {
    const controller = new AbortController();
    const slept = sleep(systemClock, 1_000, controller.signal);
    const reason = new Error('gone');
    controller.abort(reason);
    await expect(slept).rejects.toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('raceWithTimeout reports a timeout, or the value with its timer cleared', async () => {
    const slow = new Promise<string>(() => undefined);
    const raced = raceWithTimeout(systemClock, slow, 50);
    await vi.advanceTimersByTimeAsync(50);
    await expect(raced).resolves.toEqual({ timedOut: true });

    const fast = raceWithTimeout(systemClock, Promise.resolve(7), 50);
    await expect(fast).resolves.toEqual({ timedOut: false, value: 7 });
    expect(vi.getTimerCount()).toBe(0);

    const failing = raceWithTimeout(systemClock, Promise.reject(new Error('no')), 50);
    await expect(failing).rejects.toThrow('no');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('withTimeout rejects with its reason at the time, or settles as the promise does with its timer cleared', async () => {
    const reason = (ms: number) => new Error(`late after ${ms}`);
    const slow = withTimeout(systemClock, new Promise<string>(() => undefined), 50, reason);
    const outcome = slow.catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(49);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(await outcome).toEqual(new Error('late after 50'));

    await expect(withTimeout(systemClock, Promise.resolve(7), 50, reason)).resolves.toBe(7);
    await expect(withTimeout(systemClock, Promise.reject(new Error('no')), 50, reason)).rejects.toThrow('no');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('abortAsPromise rejects with the reason, at once when already aborted', async () => {
    const controller = new AbortController();
    const pending = abortAsPromise(controller.signal);
    controller.abort(new Error('deadline'));
    await expect(pending).rejects.toThrow('deadline');
    await expect(abortAsPromise(controller.signal)).rejects.toThrow('deadline');
  });
});

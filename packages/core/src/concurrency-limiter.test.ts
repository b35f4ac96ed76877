import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from './clock.js';
import type { AcquireOptions, ConcurrencyLimiter, Release } from './concurrency-limiter.js';
import { createConcurrencyLimiter, QueueFullError, QueueTimeoutError } from './concurrency-limiter.js';
import { ClientAbortedError, Deadline } from './deadline.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

function limiter(maxConcurrency: number | undefined, maxQueue?: number, batchMaxWaitMs?: number) {
  return createConcurrencyLimiter({ name: 'chat', maxConcurrency, maxQueue, batchMaxWaitMs, clock: systemClock });
}

/** Acquires and records the order in which waiters are granted, keeping their releases. */
function track(l: ConcurrencyLimiter) {
  const granted: string[] = [];
  const releases = new Map<string, Release>();
  const errors = new Map<string, unknown>();
  const take = (label: string, options?: AcquireOptions): Promise<void> =>
    l.acquire(options).then(
      (release) => {
        granted.push(label);
        releases.set(label, release);
      },
      (error: unknown) => {
        errors.set(label, error);
      },
    );
  const release = (label: string) => releases.get(label)!();
  return { granted, errors, take, release };
}

describe('createConcurrencyLimiter', () => {
  it('tryAcquire takes a free slot synchronously, never past the limit or ahead of a waiter', async () => {
    const l = limiter(1, 1);
    const release = l.tryAcquire();
    expect(release).toBeTypeOf('function');
    expect(l.tryAcquire()).toBeUndefined();
    const waiting = l.acquire();
    release!();
    expect(l.tryAcquire()).toBeUndefined(); // the slot went to the waiter
    (await waiting)();
    expect(l.stats().active).toBe(0);
    expect(limiter(undefined).tryAcquire()).toBeTypeOf('function');
  });

  it('without maxConcurrency grants at once, counts nothing and allocates nothing per call', async () => {
    const l = limiter(undefined);
    expect(l.limited).toBe(false);
    const first = l.acquire();
    expect(l.acquire()).toBe(first);
    const release = await first;
    release();
    release();
    expect(l.stats()).toEqual({
      name: 'chat',
      maxConcurrency: undefined,
      maxQueue: 0,
      active: 0,
      queued: { interactive: 0, batch: 0 },
    });
  });

  it('grants maxConcurrency slots at once, queues the rest and hands freed slots over in order', async () => {
    const l = limiter(2, 3);
    const t = track(l);
    await Promise.all([t.take('a'), t.take('b')]);
    void t.take('c');
    void t.take('d');
    await Promise.resolve();
    expect(t.granted).toEqual(['a', 'b']);
    expect(l.stats()).toMatchObject({ active: 2, queued: { interactive: 2, batch: 0 } });

    t.release('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(t.granted).toEqual(['a', 'b', 'c']);
    expect(l.stats()).toMatchObject({ active: 2, queued: { interactive: 1 } });

    // A newcomer while someone waits queues behind them, even right after a release.
    t.release('b');
    void t.take('e');
    await vi.advanceTimersByTimeAsync(0);
    expect(t.granted).toEqual(['a', 'b', 'c', 'd']);
    t.release('c');
    t.release('d');
    await vi.advanceTimersByTimeAsync(0);
    expect(t.granted).toEqual(['a', 'b', 'c', 'd', 'e']);
    t.release('e');
    expect(l.stats()).toMatchObject({ active: 0, queued: { interactive: 0, batch: 0 } });
  });

  it('rejects at once with QueueFullError when the queue, both lanes together, is full', async () => {
    const l = limiter(1, 2);
    const t = track(l);
    await t.take('a');
    void t.take('b');
    void t.take('c', { lane: 'batch' });
    await t.take('d', { lane: 'batch' });
    const error = t.errors.get('d');
    expect(error).toBeInstanceOf(QueueFullError);
    expect(error).toMatchObject({
      queue: 'chat',
      lane: 'batch',
      maxQueue: 2,
      message: "The queue 'chat' is full (2 waiting)",
    });
    expect(l.stats().queued).toEqual({ interactive: 1, batch: 1 });
  });

  it('maxQueue 0 sheds every request that finds no free slot; the default queue is maxConcurrency deep', async () => {
    const none = track(limiter(1, 0));
    await none.take('a');
    await none.take('b');
    expect(none.errors.get('b')).toBeInstanceOf(QueueFullError);
    expect(limiter(3).stats().maxQueue).toBe(3);
  });

  it('rejects with QueueTimeoutError naming the queue when deadlineAt passes in the queue, leaving nothing behind', async () => {
    const l = limiter(1, 4);
    const t = track(l);
    await t.take('a');
    const controller = new AbortController();
    const waiting = t.take('b', { deadlineAt: Date.now() + 250, signal: controller.signal });
    expect(vi.getTimerCount()).toBe(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(249);
    expect(t.errors.has('b')).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await waiting;
    const error = t.errors.get('b');
    expect(error).toBeInstanceOf(QueueTimeoutError);
    expect(error).toMatchObject({
      queue: 'chat',
      lane: 'interactive',
      waitedMs: 250,
      message: "The deadline ran out after 250 ms in the queue 'chat'",
    });
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(l.stats()).toMatchObject({ active: 1, queued: { interactive: 0 } });
    // The slot was never taken: releasing 'a' frees it.
    t.release('a');
    expect(l.stats().active).toBe(0);
  });

  it('turns a Deadline that runs out in the queue into QueueTimeoutError, whichever timer fires first', async () => {
    const l = limiter(1, 4);
    const t = track(l);
    await t.take('a');
    const deadline = new Deadline(systemClock, 300, 'caller-header');
    void t.take('b', { signal: deadline.signal, deadlineAt: deadline.at });
    const onlySignal = new Deadline(systemClock, 300, 'route-default');
    void t.take('c', { signal: onlySignal.signal });
    await vi.advanceTimersByTimeAsync(300);
    for (const label of ['b', 'c']) {
      expect(t.errors.get(label)).toBeInstanceOf(QueueTimeoutError);
      expect(t.errors.get(label)).toMatchObject({ waitedMs: 300 });
    }
    expect((t.errors.get('c') as Error).cause).toBe(onlySignal.signal.reason);
    expect(vi.getTimerCount()).toBe(0);
    expect(l.stats().queued.interactive).toBe(0);
  });

  it('takes a client that aborts out of the queue at once, with its reason, and does not leak the slot', async () => {
    const l = limiter(1, 4);
    const t = track(l);
    await t.take('a');
    const controller = new AbortController();
    const left = t.take('b', { signal: controller.signal, deadlineAt: Date.now() + 10_000 });
    void t.take('c');
    const reason = new ClientAbortedError();
    controller.abort(reason);
    await left;
    expect(t.errors.get('b')).toBe(reason);
    expect(l.stats().queued.interactive).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    t.release('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(t.granted).toEqual(['a', 'c']);
    t.release('c');
    expect(l.stats()).toMatchObject({ active: 0, queued: { interactive: 0, batch: 0 } });
  });

  it('refuses a request whose signal already aborted, even with a free slot; and one whose deadline passed', async () => {
    const l = limiter(1, 4);
    const controller = new AbortController();
    const reason = new ClientAbortedError();
    controller.abort(reason);
    await expect(l.acquire({ signal: controller.signal })).rejects.toBe(reason);
    expect(l.stats().active).toBe(0);

    const t = track(l);
    await t.take('a');
    await t.take('late', { deadlineAt: Date.now() });
    expect(t.errors.get('late')).toMatchObject({ name: 'QueueTimeoutError', waitedMs: 0 });
    // A past deadline does not matter when a slot is free: the deadline policy answers that.
    t.release('a');
    await t.take('free', { deadlineAt: Date.now() - 1 });
    expect(t.granted).toEqual(['a', 'free']);
  });

  it('ignores a second release', async () => {
    const l = limiter(2, 4);
    const t = track(l);
    await Promise.all([t.take('a'), t.take('b')]);
    void t.take('c');
    void t.take('d');
    t.release('a');
    t.release('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(t.granted).toEqual(['a', 'b', 'c']);
    expect(l.stats()).toMatchObject({ active: 2, queued: { interactive: 1 } });
    t.release('b');
    await vi.advanceTimersByTimeAsync(0);
    t.release('c');
    t.release('d');
    t.release('d');
    t.release('c');
    expect(l.stats()).toMatchObject({ active: 0, queued: { interactive: 0 } });
  });

  it('serves interactive waiters before batch ones, and batch ones when no interactive waits', async () => {
    const l = limiter(1, 10);
    const t = track(l);
    await t.take('first');
    void t.take('batch-1', { lane: 'batch' });
    void t.take('batch-2', { lane: 'batch' });
    void t.take('interactive-1');
    void t.take('interactive-2', { lane: 'interactive' });
    for (const label of ['first', 'interactive-1', 'interactive-2', 'batch-1']) {
      t.release(label);
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(t.granted).toEqual(['first', 'interactive-1', 'interactive-2', 'batch-1', 'batch-2']);
  });

  it('lets a batch waiter that waited batchMaxWaitMs go next, alternating with interactive ones', async () => {
    const l = limiter(1, 20, 1_000);
    const t = track(l);
    await t.take('first');
    void t.take('batch-1', { lane: 'batch' });
    void t.take('batch-2', { lane: 'batch' });
    await vi.advanceTimersByTimeAsync(999);
    for (let i = 1; i <= 6; i++) void t.take(`interactive-${i}`);
    // 999 ms: not aged yet.
    t.release('first');
    await vi.advanceTimersByTimeAsync(1);
    expect(t.granted.at(-1)).toBe('interactive-1');
    // 1 000 ms: both batch waiters are aged; they alternate with interactive ones.
    for (let i = 0; i < 7; i++) {
      t.release(t.granted.at(-1)!);
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(t.granted).toEqual([
      'first',
      'interactive-1',
      'batch-1',
      'interactive-2',
      'batch-2',
      'interactive-3',
      'interactive-4',
      'interactive-5',
      'interactive-6',
    ]);
  });

  it('bounds a batch wait under a steady stream of interactive work', async () => {
    const l = limiter(1, 50, 2_000);
    const t = track(l);
    await t.take('i0');
    void t.take('batch', { lane: 'batch' });
    // Every 100 ms another interactive call arrives and the running one ends: interactive work always waits.
    for (let i = 1; !t.granted.includes('batch'); i++) {
      if (i > 100) throw new Error('the batch waiter starved');
      void t.take(`i${i}`);
      await vi.advanceTimersByTimeAsync(100);
      t.release(t.granted.at(-1)!);
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(Date.now() - 1_000_000).toBe(2_000);
    expect(t.granted.slice(-2)).toEqual(['i19', 'batch']);
  });

  it('validates its options, naming them', () => {
    const base = { name: 'chat', clock: systemClock };
    expect(() => createConcurrencyLimiter({ ...base, maxConcurrency: 0 })).toThrow(
      'createConcurrencyLimiter: options.maxConcurrency must be a positive integer or undefined, got 0',
    );
    expect(() => createConcurrencyLimiter({ ...base, maxConcurrency: 2, maxQueue: -1 })).toThrow(
      'options.maxQueue must be a non-negative integer, got -1',
    );
    expect(() => createConcurrencyLimiter({ ...base, maxConcurrency: 2, batchMaxWaitMs: Number.NaN })).toThrow(
      'options.batchMaxWaitMs must be a finite number >= 0, got NaN',
    );
    expect(() => createConcurrencyLimiter({ ...base, name: '' })).toThrow('options.name must be a non-empty string');
  });
});

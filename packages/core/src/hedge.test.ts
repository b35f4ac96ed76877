import Anthropic from '@anthropic-ai/sdk';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AttemptFailedError, BreakerState } from './breaker-registry.js';
import { systemClock } from './clock.js';
import { Deadline } from './deadline.js';
import { GuardEvents, type GuardEvent } from './events.js';
import { FirstEventTimes, HedgeLostError, Hedger, type HedgeLeg, type NormalizedHedge } from './hedge.js';
import { createRetryBudget } from './retry-budget.js';
import type { AttemptBreaker, AttemptContext } from './retry-loop.js';

/** A leg the test settles by hand, and that sees its signal abort. */
interface ManualLeg {
  leg: HedgeLeg<string>;
  signal: AbortSignal;
  answer(value: string): void;
  fail(error: unknown): void;
}

function legs(): { started: ManualLeg[]; start: (context: AttemptContext) => HedgeLeg<string> } {
  const started: ManualLeg[] = [];
  const start = (context: AttemptContext): HedgeLeg<string> => {
    let resolve!: (value: string) => void;
    let reject!: (reason: unknown) => void;
    const answer = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // An aborted leg fails with its signal's reason, as an SDK call does.
    context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true });
    const leg = { first: answer, answer, done: answer };
    started.push({ leg, signal: context.signal, answer: resolve, fail: reject });
    return leg;
  };
  return { started, start };
}

function breakerSpy(state: BreakerState = 'closed'): AttemptBreaker & { failures: unknown[] } {
  const failures: unknown[] = [];
  return {
    state,
    failures,
    execute<T>(work: () => Promise<T>): Promise<T> {
      return work().catch((error: unknown) => {
        failures.push(error);
        throw error;
      });
    },
  };
}

const OPTIONS: NormalizedHedge = { delay: 100, initialDelayMs: 1_000, minSamples: 20, maxHedges: 1 };

describe('Hedger', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function setup(
    options: Partial<NormalizedHedge> = {},
    extra: { budget?: ReturnType<typeof createRetryBudget> } = {},
  ) {
    const events = new GuardEvents();
    const seen: GuardEvent[] = [];
    events.on((event) => seen.push(event));
    const breaker = breakerSpy();
    const hedger = new Hedger({
      route: 'chat',
      stream: true,
      options: { ...OPTIONS, ...options },
      clock: systemClock,
      budget: extra.budget,
      breaker,
      events,
      countRateLimits: false,
      secrets: [],
    });
    const deadline = new Deadline(systemClock, 60_000, 'route-default');
    const context: AttemptContext = { signal: deadline.signal, timeout: 60_000, attempt: 0, deadline };
    let attempts = 0;
    const call = { record: { requestId: 'r1', attemptStarted: () => (attempts += 1) }, state: { hedges: 0 } };
    return { hedger, context, call, seen, breaker, deadline, attempts: () => attempts };
  }

  it('starts one hedge after the delay; the first to answer wins and the other is aborted', async () => {
    const { hedger, context, call, seen, deadline, attempts } = setup();
    const { started, start } = legs();
    const result = hedger.run(start, context, call);
    await vi.advanceTimersByTimeAsync(99);
    expect(started).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(started).toHaveLength(2);
    expect(attempts()).toBe(1);
    started[1]!.answer('hedge');
    expect(await result).toBe('hedge');
    expect(started[0]!.signal.reason).toBeInstanceOf(HedgeLostError);
    expect(started[1]!.signal.aborted).toBe(false);
    expect(seen.map((e) => e.type)).toEqual(['hedge-started', 'hedge-won']);
    expect(vi.getTimerCount()).toBe(1); // the deadline's own timer, nothing of the hedge
    deadline.dispose();
  });

  it('no hedge when the first leg answers within the delay; the timer is cleared', async () => {
    const { hedger, context, call, seen, deadline } = setup();
    const { started, start } = legs();
    const result = hedger.run(start, context, call);
    started[0]!.answer('primary');
    expect(await result).toBe('primary');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(started).toHaveLength(1);
    expect(seen).toEqual([]);
    deadline.dispose();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('no budget, no hedge; at most maxHedges per request', async () => {
    const budget = createRetryBudget({ percentCanRetry: 0, minRetriesPerSecond: 0, now: () => Date.now() });
    const { hedger, context, call, seen, deadline } = setup({}, { budget });
    const { started, start } = legs();
    const result = hedger.run(start, context, call);
    await vi.advanceTimersByTimeAsync(500);
    expect(started).toHaveLength(1);
    started[0]!.answer('primary');
    await result;
    expect(seen).toEqual([]);

    const open = setup();
    open.call.state.hedges = 1;
    const more = legs();
    const again = open.hedger.run(more.start, open.context, open.call);
    await vi.advanceTimersByTimeAsync(500);
    expect(more.started).toHaveLength(1);
    more.started[0]!.answer('x');
    await again;
    deadline.dispose();
    open.deadline.dispose();
  });

  it("a leg's own failure is told to the breaker while the other leg may still answer; a loss is not", async () => {
    const { hedger, context, call, breaker, seen, deadline } = setup();
    const { started, start } = legs();
    const result = hedger.run(start, context, call);
    await vi.advanceTimersByTimeAsync(100);
    started[1]!.fail(
      Anthropic.APIError.generate(529, { type: 'error', error: { message: 'm' } }, undefined, new Headers()),
    );
    await vi.advanceTimersByTimeAsync(0);
    started[0]!.answer('primary');
    expect(await result).toBe('primary');
    expect(breaker.failures).toHaveLength(1);
    expect((breaker.failures[0] as AttemptFailedError).failure.breaker).toBe('failure');
    expect(seen.map((e) => e.type)).toEqual(['hedge-started', 'hedge-lost']);
    deadline.dispose();
  });

  it('both legs failing fail the attempt with the last failure', async () => {
    const { hedger, context, call, deadline } = setup();
    const { started, start } = legs();
    const result = hedger.run(start, context, call);
    result.catch(() => undefined);
    await vi.advanceTimersByTimeAsync(100);
    started[0]!.fail(new Error('first'));
    await vi.advanceTimersByTimeAsync(0);
    started[1]!.fail(new Error('second'));
    await expect(result).rejects.toThrow('second');
    deadline.dispose();
  });

  it("'p95' waits initialDelayMs until minSamples first events were seen, then the observed p95", () => {
    const { hedger } = setup({ delay: 'p95', minSamples: 3, initialDelayMs: 700 });
    expect(hedger.delayMs()).toBe(700);
    for (const ms of [10, 20, 30]) hedger.times.record(ms);
    expect(hedger.delayMs()).toBe(30);
  });
});

describe('FirstEventTimes', () => {
  it('keeps a p95 of its window and the mean of the samples above a wait', () => {
    const times = new FirstEventTimes();
    for (let i = 1; i <= 100; i++) times.record(i);
    expect(times.p95()).toBe(95);
    expect(times.meanAbove(98)).toBe(99.5);
    expect(times.meanAbove(100)).toBeUndefined();
  });
});

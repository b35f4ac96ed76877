import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AttemptFailedError, BreakerOpenError, BreakerRegistry, type RouteBreaker } from './breaker-registry.js';
import type { AttemptFailure } from './classify.js';
import { systemClock } from './clock.js';
import { GuardEvents, type GuardEvent } from './events.js';
import { DEFAULTS } from './options.js';

const OPTIONS = { ...DEFAULTS.breaker, volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: 1_000 };

function attemptFailure(breaker: AttemptFailure['breaker']): AttemptFailedError {
  return new AttemptFailedError({
    kind: breaker === 'neutral' ? 'client-abort' : 'http',
    status: breaker === 'neutral' ? undefined : breaker === 'failure' ? 529 : 400,
    type: 'api_error',
    transient: breaker === 'failure',
    breaker,
    retryAfterMs: undefined,
    upstreamRequestId: undefined,
    upstreamMessage: undefined,
    errorCode: undefined,
    error: undefined,
  });
}

/** A call whose outcome the test decides later. */
function deferred() {
  let resolve!: (value: string) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<string>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

let registry: BreakerRegistry;
let events: GuardEvent[];

function fail(breaker: RouteBreaker, verdict: AttemptFailure['breaker'] = 'failure'): Promise<unknown> {
  return breaker.execute(() => Promise.reject(attemptFailure(verdict))).catch((error: unknown) => error);
}

function succeed(breaker: RouteBreaker): Promise<unknown> {
  return breaker.execute(() => Promise.resolve('ok'));
}

beforeEach(() => {
  vi.useFakeTimers();
  events = [];
  const hub = new GuardEvents();
  hub.on((event) => events.push(event));
  registry = new BreakerRegistry(systemClock, hub);
});
afterEach(() => {
  registry.close();
  vi.useRealTimers();
});

describe('BreakerRegistry', () => {
  it('opens after the threshold and then rejects fast with BreakerOpenError carrying retryAfterMs', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    expect(breaker.state).toBe('closed');
    expect(breaker.retryAfterMs()).toBe(0);
    expect(await fail(breaker)).toBeInstanceOf(AttemptFailedError);
    expect(breaker.state).toBe('closed');
    expect(await fail(breaker)).toBeInstanceOf(AttemptFailedError);
    expect(breaker.state).toBe('open');
    expect(events).toEqual([{ type: 'breaker-open', key: 'main' }]);

    vi.advanceTimersByTime(400);
    const work = vi.fn(() => Promise.resolve('never'));
    const rejected = await breaker.execute(work).catch((error: unknown) => error);
    expect(work).not.toHaveBeenCalled();
    expect(rejected).toBeInstanceOf(BreakerOpenError);
    expect(rejected).toMatchObject({ key: 'main', retryAfterMs: 600, message: "Circuit breaker 'main' is open" });
    expect(breaker.snapshot()).toMatchObject({
      key: 'main',
      routes: ['chat'],
      state: 'open',
      retryAfterMs: 600,
      counts: { fires: 3, successes: 0, failures: 2, rejects: 1, neutral: 0 },
      options: OPTIONS,
    });
  });

  it('does not open below the error percentage', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    await succeed(breaker);
    await fail(breaker);
    expect(breaker.state).toBe('closed'); // 50 % is not above 50 %
    await fail(breaker);
    expect(breaker.state).toBe('open'); // 67 %
  });

  it('counts client errors as successes: they say nothing bad about the upstream', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    for (let i = 0; i < 5; i++) await fail(breaker, 'success');
    expect(breaker.state).toBe('closed');
    expect(breaker.snapshot().counts).toMatchObject({ successes: 5, failures: 0 });
  });

  it('rethrows errors that are not AttemptFailedError as they are, without counting them as failures', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    const bug = new RangeError('bug');
    for (let i = 0; i < 3; i++)
      expect(await breaker.execute(() => Promise.reject(bug)).catch((e: unknown) => e)).toBe(bug);
    expect(breaker.state).toBe('closed');
    // As opossum's errorFilter counted them: not an attempt's verdict, so not ill health.
    expect(breaker.snapshot().counts).toMatchObject({ fires: 3, successes: 3, failures: 0 });
  });

  it('neutral outcomes are neither successes nor failures', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    for (let i = 0; i < 4; i++) await fail(breaker, 'neutral');
    expect(breaker.state).toBe('closed');
    expect(breaker.snapshot().counts).toMatchObject({ fires: 4, successes: 0, failures: 0, neutral: 4 });
  });

  it('goes half-open after resetTimeout and lets exactly one trial through, even when many calls arrive together', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    await fail(breaker);
    await fail(breaker);
    vi.advanceTimersByTime(999);
    expect(breaker.state).toBe('open');
    vi.advanceTimersByTime(1);
    expect(breaker.state).toBe('half-open');

    const trial = deferred();
    const works = Array.from({ length: 5 }, (_, i) =>
      vi.fn(() => (i === 0 ? trial.promise : Promise.resolve('extra'))),
    );
    const results = works.map((work) => breaker.execute(work).catch((error: unknown) => error));
    expect(works.map((w) => w.mock.calls.length)).toEqual([1, 0, 0, 0, 0]);
    const others = await Promise.all(results.slice(1));
    for (const other of others) {
      expect(other).toBeInstanceOf(BreakerOpenError);
      expect((other as BreakerOpenError).retryAfterMs).toBeGreaterThan(0);
    }
    expect(breaker.state).toBe('half-open');

    trial.resolve('fine');
    expect(await results[0]).toBe('fine');
    expect(breaker.state).toBe('closed');
    expect(events.map((e) => e.type)).toEqual(['breaker-open', 'breaker-half-open', 'breaker-close']);
  });

  it('a failed trial opens it again for another resetTimeout', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    await fail(breaker);
    await fail(breaker);
    vi.advanceTimersByTime(1_000);
    expect(breaker.state).toBe('half-open');
    await fail(breaker);
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfterMs()).toBe(1_000);
    vi.advanceTimersByTime(1_000);
    expect(breaker.state).toBe('half-open');
  });

  it('a neutral trial proves nothing: it stays half-open (not open, not closed) and the next call is the trial', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    await fail(breaker);
    await fail(breaker);
    vi.advanceTimersByTime(1_000);
    expect(breaker.state).toBe('half-open');
    await fail(breaker, 'neutral');
    expect(breaker.state).toBe('half-open');
    expect(breaker.snapshot().counts).toMatchObject({ failures: 2, neutral: 1, successes: 0 });
    expect(events.map((e) => e.type)).toEqual(['breaker-open', 'breaker-half-open']);
    // No waiting for another resetTimeout: the slot is free at once.
    const work = vi.fn(() => Promise.resolve('ok'));
    expect(await breaker.execute(work)).toBe('ok');
    expect(work).toHaveBeenCalledTimes(1);
    expect(breaker.state).toBe('closed');
    expect(events.map((e) => e.type)).toEqual(['breaker-open', 'breaker-half-open', 'breaker-close']);
  });

  it('a neutral trial releases the slot only when it ends: until then every other call is refused', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    await fail(breaker);
    await fail(breaker);
    vi.advanceTimersByTime(1_000);
    const trial = deferred();
    const first = breaker.execute(() => trial.promise).catch((error: unknown) => error);
    expect(await breaker.execute(() => Promise.resolve('second')).catch((error: unknown) => error)).toBeInstanceOf(
      BreakerOpenError,
    );
    trial.reject(attemptFailure('neutral'));
    expect(await first).toBeInstanceOf(AttemptFailedError);
    expect(breaker.state).toBe('half-open');
    // Many neutral trials in a row never re-open it: each hands the slot on.
    for (let i = 0; i < 5; i++) expect(await fail(breaker, 'neutral')).toBeInstanceOf(AttemptFailedError);
    expect(breaker.state).toBe('half-open');
    expect(breaker.snapshot().counts.neutral).toBe(6);
    expect(await succeed(breaker)).toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('a neutral call that started before the breaker opened neither re-opens it nor frees the trial slot', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    const early = deferred();
    const earlyCall = breaker.execute(() => early.promise).catch((error: unknown) => error);
    await fail(breaker);
    await fail(breaker);
    expect(breaker.state).toBe('open');
    vi.advanceTimersByTime(1_000);
    const trial = deferred();
    const trialCall = breaker.execute(() => trial.promise).catch((error: unknown) => error);

    early.reject(attemptFailure('neutral'));
    expect(await earlyCall).toBeInstanceOf(AttemptFailedError);
    expect(breaker.state).toBe('half-open');
    const work = vi.fn(() => Promise.resolve('not the trial'));
    expect(await breaker.execute(work).catch((error: unknown) => error)).toBeInstanceOf(BreakerOpenError);
    expect(work).not.toHaveBeenCalled();

    trial.resolve('fine');
    expect(await trialCall).toBe('fine');
    expect(breaker.state).toBe('closed');
  });

  it('half-open, a call with less than minTrialBudgetMs left is refused and leaves the trial to the next call', async () => {
    const breaker = registry.get('main', 'chat', { ...OPTIONS, minTrialBudgetMs: 500 });
    // Closed, short budgets run as usual.
    expect(await breaker.execute(() => Promise.resolve('closed'), { budgetMs: 20 })).toBe('closed');
    await fail(breaker);
    await fail(breaker);
    await fail(breaker);
    expect(breaker.state).toBe('open');
    vi.advanceTimersByTime(1_000);
    expect(breaker.state).toBe('half-open');

    const before = breaker.snapshot().counts;
    const short = vi.fn(() => Promise.resolve('short'));
    for (const budgetMs of [0, 20, 499]) {
      const refused = await breaker.execute(short, { budgetMs }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(BreakerOpenError);
      expect((refused as BreakerOpenError).retryAfterMs).toBeGreaterThan(0);
    }
    expect(short).not.toHaveBeenCalled();
    expect(breaker.state).toBe('half-open');
    // Refused before the breaker's fire: rejects, but no fires.
    expect(breaker.snapshot().counts).toMatchObject({ rejects: before.rejects + 3, fires: before.fires });
    expect(await breaker.execute(() => Promise.resolve('long enough'), { budgetMs: 500 })).toBe('long enough');
    expect(breaker.state).toBe('closed');
  });

  it('minTrialBudgetMs 0 lets any call be the trial', async () => {
    const breaker = registry.get('main', 'chat', { ...OPTIONS, minTrialBudgetMs: 0 });
    await fail(breaker);
    await fail(breaker);
    vi.advanceTimersByTime(1_000);
    expect(await breaker.execute(() => Promise.resolve('tiny'), { budgetMs: 0 })).toBe('tiny');
    expect(breaker.state).toBe('closed');
  });

  it('after a failed trial the next half-open starts with a free slot', async () => {
    const breaker = registry.get('main', 'chat', OPTIONS);
    await fail(breaker);
    await fail(breaker);
    vi.advanceTimersByTime(1_000);
    await fail(breaker);
    expect(breaker.state).toBe('open');
    vi.advanceTimersByTime(1_000);
    expect(breaker.state).toBe('half-open');
    expect(await succeed(breaker)).toBe('ok');
    expect(breaker.state).toBe('closed');
  });

  it('routes naming the same key share one breaker; its first options win', async () => {
    const a = registry.get('shared', 'route-a', OPTIONS);
    const b = registry.get('shared', 'route-b', { ...OPTIONS, volumeThreshold: 100 });
    const other = registry.get('own', 'route-c', OPTIONS);
    expect(b).toBe(a);
    expect(other).not.toBe(a);
    await fail(a);
    await fail(b);
    expect(a.state).toBe('open');
    expect(other.state).toBe('closed');
    expect(registry.snapshot().map((s) => [s.key, s.routes, s.state])).toEqual([
      ['shared', ['route-a', 'route-b'], 'open'],
      ['own', ['route-c'], 'closed'],
    ]);
  });

  it('a disabled breaker runs everything and never opens', async () => {
    const breaker = registry.get('off', 'chat', { ...OPTIONS, enabled: false });
    for (let i = 0; i < 5; i++) await fail(breaker);
    expect(breaker.state).toBe('closed');
    expect(await succeed(breaker)).toBe('ok');
  });

  it('forgets failures that leave the rolling window', async () => {
    const breaker = registry.get('main', 'chat', { ...OPTIONS, rollingCountTimeout: 1_000, rollingCountBuckets: 10 });
    await fail(breaker);
    vi.advanceTimersByTime(1_000);
    expect(breaker.snapshot().counts.failures).toBe(0);
    await fail(breaker);
    expect(breaker.state).toBe('closed');
  });

  it('holds no timer, even with a breaker open, and close() forgets every breaker', async () => {
    registry.get('a', 'chat', OPTIONS);
    const open = registry.get('b', 'proxy', { ...OPTIONS, rollingCountTimeout: 6_000, rollingCountBuckets: 3 });
    await fail(open);
    await fail(open);
    expect(open.state).toBe('open');
    // No reset timer: open becomes half-open when asked after resetTimeout, on the clock.
    expect(vi.getTimerCount()).toBe(0);
    registry.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(registry.snapshot()).toEqual([]);
  });

  it('rotates the windows without arming a timer, however many breakers there are', () => {
    for (let i = 0; i < 5; i++) registry.get(`key-${i}`, `route-${i}`, OPTIONS);
    registry.get('other', 'other', { ...OPTIONS, rollingCountTimeout: 6_000, rollingCountBuckets: 3 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('on a hand-driven clock and no timer at all: half-open when asked at resetTimeout, announced once, then closed by a trial', async () => {
    vi.useRealTimers();
    let now = 1_000;
    const clock = { now: () => now, setTimeout: () => ({}), clearTimeout: () => undefined };
    const seen: GuardEvent[] = [];
    const hub = new GuardEvents();
    hub.on((event) => seen.push(event));
    const own = new BreakerRegistry(clock, hub);
    const breaker = own.get('a', 'a', OPTIONS);
    await fail(breaker);
    await fail(breaker);
    expect(breaker.state).toBe('open');
    now += 999;
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfterMs()).toBe(1);
    expect(own.publicSnapshot()).toEqual([{ key: 'a', state: 'open', retryAfterSeconds: 1 }]);
    now += 1;
    // Nothing announced it yet: nobody asked. The first look moves it and says so, once.
    expect(seen.map((e) => e.type)).toEqual(['breaker-open']);
    expect(own.publicSnapshot()).toEqual([{ key: 'a', state: 'half-open', retryAfterSeconds: 1 }]);
    expect(breaker.state).toBe('half-open');
    expect(seen.map((e) => e.type)).toEqual(['breaker-open', 'breaker-half-open']);
    expect(await succeed(breaker)).toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(seen).toEqual([
      { type: 'breaker-open', key: 'a' },
      { type: 'breaker-half-open', key: 'a' },
      { type: 'breaker-close', key: 'a' },
    ]);
    own.close();
  });

  it('a call arriving after resetTimeout, with nobody having asked, moves it to half-open and is the trial', async () => {
    vi.useRealTimers();
    let now = 0;
    const clock = { now: () => now, setTimeout: () => ({}), clearTimeout: () => undefined };
    const seen: string[] = [];
    const hub = new GuardEvents();
    hub.on((event) => seen.push(event.type));
    const own = new BreakerRegistry(clock, hub);
    const breaker = own.get('a', 'a', OPTIONS);
    await fail(breaker);
    await fail(breaker);
    now += 5_000;
    const trial = deferred();
    const first = breaker.execute(() => trial.promise);
    expect(seen).toEqual(['breaker-open', 'breaker-half-open']);
    expect(await breaker.execute(() => Promise.resolve('second')).catch((error: unknown) => error)).toBeInstanceOf(
      BreakerOpenError,
    );
    trial.resolve('fine');
    expect(await first).toBe('fine');
    expect(seen).toEqual(['breaker-open', 'breaker-half-open', 'breaker-close']);
    own.close();
  });

  it('counts a call in the window it is judged in, however long it ran: a burst of long failures still opens it', async () => {
    vi.useRealTimers();
    let now = 0;
    const clock = { now: () => now, setTimeout: () => ({}), clearTimeout: () => undefined };
    const own = new BreakerRegistry(clock, new GuardEvents());
    const breaker = own.get('a', 'a', {
      ...OPTIONS,
      volumeThreshold: 5,
      rollingCountTimeout: 1_000,
      rollingCountBuckets: 4,
    });
    const calls = Array.from({ length: 5 }, () => deferred());
    const running = calls.map((call) => breaker.execute(() => call.promise).catch((error: unknown) => error));
    // In flight, not yet judged: nothing counted.
    expect(breaker.snapshot().counts).toMatchObject({ fires: 0, failures: 0 });
    // They all fail 60 s later, long after the window they started in.
    now += 60_000;
    for (const call of calls) call.reject(attemptFailure('failure'));
    await Promise.all(running);
    expect(breaker.snapshot().counts).toMatchObject({ fires: 5, failures: 5 });
    expect(breaker.state).toBe('open');
    own.close();
  });

  it('rotates the windows on the injected clock, bucket by bucket, shared by breakers of one bucket length', async () => {
    vi.useRealTimers();
    let now = 50_000;
    const clock = { now: () => now, setTimeout: () => ({}), clearTimeout: () => undefined };
    const own = new BreakerRegistry(clock, new GuardEvents());
    const options = { ...OPTIONS, volumeThreshold: 100, rollingCountTimeout: 1_000, rollingCountBuckets: 4 };
    const a = own.get('a', 'a', options);
    const b = own.get('b', 'b', options);
    await fail(a);
    now += 250;
    await fail(a);
    await fail(b);
    expect(a.snapshot().counts.failures).toBe(2);
    // The first failure's bucket leaves the window 1 000 ms after it was opened, the second's 250 ms later.
    now += 749;
    expect(a.snapshot().counts.failures).toBe(2);
    now += 1;
    expect(a.snapshot().counts.failures).toBe(1);
    expect(b.snapshot().counts.failures).toBe(1);
    now += 250;
    expect(a.snapshot().counts).toMatchObject({ failures: 0, fires: 0 });
    expect(b.snapshot().counts.failures).toBe(0);
    // A long idle time rotates the whole window away at once, and the phase is kept.
    now += 60_000;
    await fail(a);
    now += 999;
    expect(a.snapshot().counts.failures).toBe(1);
    now += 1;
    expect(a.snapshot().counts.failures).toBe(0);
    own.close();
  });
});

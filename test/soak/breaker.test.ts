import { afterEach, describe, expect, it, vi } from 'vitest';
import { ADAPTERS, MODEL, manualClock, startStack, type ManualClock, type Stack } from '../support/index.js';

// Only the manual clock ends a request: it runs out on `clock.advance()`. The SDK's own timeout is real
// time and as long as the deadline (the time left), so it is five minutes, far past the test's own
// timeout: however slowly a loaded machine gets the 50 requests to the fake, none is cut before the advance.
const DEADLINE_MS = 300_000;

async function post(stack: Stack): Promise<{ status: number; retryAfter: string | null; type: unknown }> {
  const response = await fetch(`${stack.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'breaker test' }] }),
  });
  const body = (await response.json()) as { error?: { type?: unknown } };
  return { status: response.status, retryAfter: response.headers.get('retry-after'), type: body.error?.type };
}

function count(stack: Stack, type: string): number {
  return stack.events.filter((event) => event.type === type).length;
}

/** The breaker transitions so far, in order. */
function transitions(stack: Stack): string[] {
  return stack.events
    .filter((event) => event.type.startsWith('breaker-') && event.type !== 'breaker-rejected')
    .map((event) => event.type);
}

function proxyBreaker(stack: Stack) {
  const breaker = stack.guard.status().breakers.find((b) => b.key === 'proxy');
  if (!breaker) throw new Error('no proxy breaker');
  return breaker;
}

describe.each(ADAPTERS)('soak: the breaker under concurrency (%s)', (adapter) => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  /**
   * The guard runs on a manual clock: every in-flight request's deadline fires on one `advance()`,
   * so 50 failures land together while all 50 are in flight, and the breaker's rolling window follows
   * that clock, so every verdict of the run lands in one window whatever the run's real duration,
   * and so does its open -> half-open: half-open exactly `resetTimeout` after it opened, on `advance()`.
   */
  async function start(clock: ManualClock, resetTimeout: number): Promise<Stack> {
    return startStack({
      adapter,
      guard: {
        clock,
        deadline: { defaultMs: DEADLINE_MS },
        retry: { maxAttempts: 1 },
        breaker: { volumeThreshold: 10, errorThresholdPercentage: 50, resetTimeout },
      },
    });
  }

  it('a burst of failures among 50 requests in flight opens it exactly once', async () => {
    const clock = manualClock();
    stack = await start(clock, 60_000);
    const s = stack;
    s.fake.setDefault({ faultRate: 1, fault: { kind: 'stall' } });

    const inFlight = Array.from({ length: 50 }, () => post(s));
    await vi.waitFor(() => expect(s.fake.requests).toHaveLength(50), { timeout: 15_000, interval: 20 });
    expect(proxyBreaker(s).state).toBe('closed');
    clock.advance(DEADLINE_MS);
    const results = await Promise.all(inFlight);

    expect(results.map((r) => r.status)).toEqual(results.map(() => 504));
    expect(count(s, 'breaker-open')).toBe(1);
    expect(proxyBreaker(s)).toMatchObject({ state: 'open', counts: { fires: 50, failures: 50, successes: 0 } });
    await s.fake.settled();
    expect(s.fake.requests.map((r) => r.outcome)).toEqual(s.fake.requests.map(() => 'client-aborted'));

    // Open: the next 20 are refused without reaching Claude, and it does not open again.
    const refused = await Promise.all(Array.from({ length: 20 }, () => post(s)));
    expect(refused.map((r) => [r.status, r.type])).toEqual(refused.map(() => [503, 'overloaded_error']));
    expect(refused.every((r) => Number(r.retryAfter) > 0)).toBe(true);
    expect(s.fake.requests).toHaveLength(50);
    expect(count(s, 'breaker-rejected')).toBe(20);
    expect(count(s, 'breaker-open')).toBe(1);
  });

  it('half-open lets exactly one trial through when 50 requests arrive together', async () => {
    const clock = manualClock();
    stack = await start(clock, 200);
    const s = stack;
    // Open it: ten fast 500s.
    s.fake.setDefault({ faultRate: 1, fault: 500 });
    const opening = await Promise.all(Array.from({ length: 10 }, () => post(s)));
    expect(opening.map((r) => r.status)).toEqual(opening.map(() => 500));
    expect(count(s, 'breaker-open')).toBe(1);
    clock.advance(199);
    expect(proxyBreaker(s).state).toBe('open');
    clock.advance(1);
    expect(proxyBreaker(s).state).toBe('half-open');
    expect(count(s, 'breaker-half-open')).toBe(1);

    // The trial stalls at the fake, so it is still in flight while the other 49 arrive.
    s.fake.setDefault({ faultRate: 1, fault: { kind: 'stall' } });
    const before = s.fake.requests.length;
    const settled: { status: number; type: unknown }[] = [];
    const all = Array.from({ length: 50 }, () => post(s).then((r) => (settled.push(r), r)));
    await vi.waitFor(
      () => {
        expect(settled).toHaveLength(49);
        expect(s.fake.requests).toHaveLength(before + 1);
      },
      { timeout: 15_000, interval: 20 },
    );
    expect(settled.map((r) => [r.status, r.type])).toEqual(settled.map(() => [503, 'overloaded_error']));
    expect(proxyBreaker(s).state).toBe('half-open');

    // The trial fails at its deadline: open again, and still only one request reached Claude.
    clock.advance(DEADLINE_MS);
    const results = await Promise.all(all);
    expect(results.filter((r) => r.status === 504)).toHaveLength(1);
    expect(s.fake.requests).toHaveLength(before + 1);
    expect(count(s, 'breaker-open')).toBe(2);
    expect(proxyBreaker(s).state).toBe('open');
    expect(transitions(s)).toEqual(['breaker-open', 'breaker-half-open', 'breaker-open']);

    // Next half-open, resetTimeout after the failed trial, a healthy trial closes it.
    clock.advance(199);
    expect(proxyBreaker(s).state).toBe('open');
    clock.advance(1);
    expect(proxyBreaker(s).state).toBe('half-open');
    expect(count(s, 'breaker-half-open')).toBe(2);
    s.fake.setDefault({ faultRate: 0 });
    expect((await post(s)).status).toBe(200);
    expect(count(s, 'breaker-close')).toBe(1);
    expect(proxyBreaker(s).state).toBe('closed');
    expect(transitions(s)).toEqual([
      'breaker-open',
      'breaker-half-open',
      'breaker-open',
      'breaker-half-open',
      'breaker-close',
    ]);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AdmissionRegistry, type RouteAdmission } from './admission.js';
import { systemClock } from './clock.js';
import type { Release } from './concurrency-limiter.js';
import { Deadline } from './deadline.js';
import type { GuardEvent } from './events.js';
import { ClaudeGuardError } from './guard-error.js';
import { DEFAULTS, type NormalizedConcurrency, type NormalizedRateLimits } from './options.js';
import { classifyFailure } from './classify.js';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0);

beforeEach(() => {
  vi.useFakeTimers({ now: NOW });
});
afterEach(() => {
  vi.useRealTimers();
});

const RATE_LIMITS: NormalizedRateLimits = { ...DEFAULTS.rateLimits };
const LIMITED: NormalizedConcurrency = { ...DEFAULTS.concurrency, maxConcurrency: 2, maxQueue: 2 };

function setup(concurrency: NormalizedConcurrency = LIMITED, rateLimits: NormalizedRateLimits = RATE_LIMITS) {
  const events: GuardEvent[] = [];
  const hub = { active: true, emit: (event: GuardEvent) => events.push(event) };
  const registry = new AdmissionRegistry(rateLimits, 'client_test', systemClock, hub, ['secret-key-123456789']);
  const admission = registry.forRoute('chat', 'chat', concurrency, false)!;
  return { registry, admission, events };
}

let ids = 0;
function admit(admission: RouteAdmission, budgetMs = 10_000, parent?: AbortSignal) {
  const deadline = new Deadline(systemClock, budgetMs, 'route-default', parent);
  const settled: { release?: Release; error?: unknown } = {};
  const promise = Promise.resolve(
    admission.admit({ deadline, requestId: `req-${ids++}`, body: { messages: [] } }),
  ).then(
    (release) => {
      settled.release = release;
    },
    (error: unknown) => {
      settled.error = error;
    },
  );
  return { deadline, settled, promise };
}

function rateHeaders(remaining: number, resetInMs: number): Headers {
  return new Headers({
    'anthropic-ratelimit-requests-limit': '10',
    'anthropic-ratelimit-requests-remaining': String(remaining),
    'anthropic-ratelimit-requests-reset': new Date(NOW + resetInMs).toISOString(),
  });
}

describe('RouteAdmission: concurrency', () => {
  it('is not built when nothing limits the route (no cost per request)', () => {
    const { registry } = setup();
    const off = { ...RATE_LIMITS, enabled: false };
    const quiet = new AdmissionRegistry(off, 'c', systemClock, { active: false, emit: () => {} }, []);
    expect(quiet.forRoute('x', 'x', DEFAULTS.concurrency, false)).toBeUndefined();
    expect(registry.forRoute('y', 'y', DEFAULTS.concurrency, false)).toBeDefined(); // rate limits still apply
  });

  it('grants up to maxConcurrency, queues up to maxQueue and answers 503 overloaded_error beyond', async () => {
    const { admission, registry, events } = setup();
    const calls = Array.from({ length: 5 }, () => admit(admission));
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.map((c) => c.settled.release !== undefined)).toEqual([true, true, false, false, false]);
    const full = calls[4]!.settled.error as ClaudeGuardError;
    expect(full).toBeInstanceOf(ClaudeGuardError);
    expect(full).toMatchObject({ status: 503, type: 'overloaded_error', outcome: 'queue-full', attempts: 0 });
    expect(full.headers['retry-after']).toBe('1');
    expect(full.message).toContain("queue 'chat' is full");
    expect(registry.status().queues[0]).toMatchObject({ active: 2, queued: { interactive: 2, batch: 0 } });
    calls[0]!.settled.release!();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls[2]!.settled.release).toBeDefined();
    expect(events.map((e) => e.type)).toContain('admission-shed');
    expect(events.filter((e) => e.type === 'admission-queued')).toHaveLength(2);
  });

  it('answers 504 naming the queue when the deadline runs out in it, on time, and frees its place', async () => {
    const { admission, registry } = setup();
    admit(admission);
    admit(admission);
    const late = admit(admission, 300);
    await vi.advanceTimersByTimeAsync(299);
    expect(late.settled.error).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(late.settled.error).toMatchObject({ status: 504, type: 'timeout_error', outcome: 'queue-timeout' });
    expect((late.settled.error as Error).message).toContain("after 300 ms in the queue 'chat'");
    expect(registry.status().queues[0]!.queued.interactive).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('takes a waiter whose client leaves out of the queue at once (499), leaving no timer', async () => {
    const { admission, registry } = setup();
    admit(admission);
    admit(admission);
    const client = new AbortController();
    const gone = admit(admission, 10_000, client.signal);
    await vi.advanceTimersByTimeAsync(0);
    expect(registry.status().queues[0]!.queued.interactive).toBe(1);
    client.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(gone.settled.error).toMatchObject({ status: 499, outcome: 'client-aborted' });
    expect(registry.status().queues[0]!.queued.interactive).toBe(0);
    gone.deadline.dispose();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("queues a call in its own lane, else the route's; interactive goes first", async () => {
    const { registry } = setup({ ...LIMITED, maxConcurrency: 1, maxQueue: 3, lane: 'batch' });
    const admission = registry.forRoute(
      'chat',
      'chat',
      { ...LIMITED, maxConcurrency: 1, maxQueue: 3, lane: 'batch' },
      false,
    )!;
    const first = admit(admission);
    const routeLane = admit(admission);
    const deadline = new Deadline(systemClock, 10_000, 'route-default');
    let interactiveGranted: Release | undefined;
    void Promise.resolve(admission.admit({ deadline, requestId: 'req-i', lane: 'interactive' })).then((release) => {
      interactiveGranted = release;
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(registry.status().queues[0]!.queued).toEqual({ interactive: 1, batch: 1 });
    first.settled.release!();
    await vi.advanceTimersByTimeAsync(0);
    expect(interactiveGranted).toBeDefined();
    expect(routeLane.settled.release).toBeUndefined();
    interactiveGranted!();
    await vi.advanceTimersByTimeAsync(0);
    expect(routeLane.settled.release).toBeDefined();
  });

  it('refuses two routes sharing a key with different limits, naming both', () => {
    const { registry } = setup();
    expect(() => registry.forRoute('other', 'chat', { ...LIMITED, maxConcurrency: 3 }, false)).toThrow(
      /routes 'chat' and 'other' share breaker key 'chat'.*concurrency\.maxConcurrency/,
    );
    expect(registry.forRoute('run', 'chat', DEFAULTS.concurrency, true)).toBeDefined();
  });
});

describe('RouteAdmission: rate limits', () => {
  it('holds a request until the reset when its deadline reaches past it; 429 at once otherwise', async () => {
    const { admission, registry, events } = setup({ ...DEFAULTS.concurrency });
    registry.tracker!.observe('client_test', { status: 200, headers: rateHeaders(0, 2_000) });
    const patient = admit(admission, 5_000);
    const hurried = admit(admission, 1_000);
    await vi.advanceTimersByTimeAsync(0);
    expect(hurried.settled.error).toMatchObject({ status: 429, type: 'rate_limit_error', outcome: 'rate-limited' });
    expect((hurried.settled.error as ClaudeGuardError).headers['retry-after']).toBe('2');
    expect((hurried.settled.error as Error).message).toContain('rate limit on requests');
    await vi.advanceTimersByTimeAsync(1_999);
    expect(patient.settled.release).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(patient.settled.release).toBeDefined();
    expect(events.some((e) => e.type === 'rate-limit-wait')).toBe(true);
    patient.deadline.dispose();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a spend-limit 429 holds the client: immediate 429s with the redacted message, then normal service', async () => {
    const { admission, registry } = setup({ ...DEFAULTS.concurrency });
    const upstream = Object.assign(new Error('429'), {
      status: 429,
      headers: new Headers(),
      errorCode: 'enforced_spend_limit_reached',
      apiMessage: 'Spend limit reached for key secret-key-123456789',
    });
    registry.answers!.failed(upstream);
    const held = admit(admission, 600_000);
    await vi.advanceTimersByTimeAsync(0);
    const error = held.settled.error as ClaudeGuardError;
    expect(error).toMatchObject({ status: 429, type: 'rate_limit_error', outcome: 'spend-limit' });
    expect(error.message).toContain('Spend limit reached for key [redacted]');
    expect(error.message).not.toContain('secret-key');
    expect(error.headers['retry-after']).toBe('60');
    expect(registry.publicStatus().clients[0]!.hold).toEqual({ reason: 'spend-limit', retryAfterSeconds: 60 });
    await vi.advanceTimersByTimeAsync(60_000);
    const later = admit(admission);
    await vi.advanceTimersByTimeAsync(0);
    expect(later.settled.release).toBeDefined();
  });
});

describe('AdmissionRegistry.answers', () => {
  it('is undefined when rate limits are off: nothing to tell', () => {
    const { registry } = setup(LIMITED, { ...RATE_LIMITS, enabled: false });
    expect(registry.answers).toBeUndefined();
  });

  it('reads the rate-limit headers of an answer', () => {
    const { registry } = setup();
    registry.answers!.answered(new Response('{}', { headers: rateHeaders(7, 30_000) }));
    expect(registry.status().clients[0]!.limits.requests).toMatchObject({ limit: 10, remaining: 7 });
  });

  it("reconciles a ticket's estimate with the usage the answer reports", () => {
    const { registry } = setup();
    const answers = registry.answers!;
    answers.answered(new Response('{}', { headers: rateHeaders(7, 30_000) }));
    const body = { messages: [{ role: 'user', content: 'x'.repeat(400) }] };
    answers.reconcile(answers.ticket(body), { input_tokens: 1_000, output_tokens: 5 });
    expect(registry.status().clients[0]!.estimateRatio).toBeGreaterThan(1);
  });
});

describe('classifyFailure: spend limits', () => {
  const deadline = new Deadline(systemClock, 10_000, 'route-default');
  const context = { deadline, countRateLimits: true, now: () => Date.now() };
  const sdkError = (errorCode: string | null, headers: Record<string, string> = {}) =>
    Object.assign(new Error('429'), { name: 'RateLimitError', status: 429, headers: new Headers(headers), errorCode });

  it.each(['enforced_spend_limit_reached', 'contract_spend_limit_reached'])(
    '%s: never retried, neutral for the breaker (even with countRateLimits and x-should-retry: true)',
    (code) => {
      const failure = classifyFailure(sdkError(code, { 'x-should-retry': 'true' }), context);
      expect(failure).toMatchObject({ transient: false, breaker: 'neutral', errorCode: code });
    },
  );

  it('ramp_limit_exceeded is retried after its retry-after', () => {
    const failure = classifyFailure(sdkError('ramp_limit_exceeded', { 'retry-after': '1' }), context);
    expect(failure).toMatchObject({ transient: true, retryAfterMs: 1_000 });
  });
});

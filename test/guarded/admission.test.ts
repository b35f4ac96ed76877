import Anthropic, { APIError } from '@anthropic-ai/sdk';
import {
  createClaudeGuard,
  type ClaudeGuard,
  type ClaudeGuardOptions,
  type GuardEvent,
  type RouteOptions,
} from '@claude-guard/core';
import { createFakeAnthropic, type FakeAnthropic, type FakeAnthropicOptions } from '@claude-guard/fake-anthropic';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  API_KEY,
  activeTimeouts,
  FAST_RETRY,
  manualClock,
  params,
  startApp,
  useProcessWatch,
  type AdapterName,
  type ManualClock,
} from '../support/index.js';
import { eventually } from '../support/wait.js';

// Admission control end to end, on both adapters: the real SDK calls our app, the guard's own SDK calls
// fake-anthropic. The guard's client goes through a gate (its `fetch`), so requests can be held "in flight"
// for as long as a test needs without any real-time margin; fake-anthropic's maxInFlight() proves what
// reached the upstream at once. Queue and hold timing runs on a manual clock.

/** Holds the guard's upstream calls until `open()`: a slow upstream whose slowness the test controls. */
interface Gate {
  readonly fetch: typeof fetch;
  open(): void;
  /** Calls waiting at the gate now. */
  readonly waiting: number;
  /** Calls that got through. */
  readonly passed: number;
}

function gate(closed: boolean): Gate {
  let opened = !closed;
  let release: () => void = () => {};
  const opening = new Promise<void>((resolve) => {
    release = resolve;
  });
  const state = { waiting: 0, passed: 0 };
  return {
    fetch: async (input, init) => {
      if (!opened) {
        state.waiting += 1;
        await opening;
        state.waiting -= 1;
      }
      state.passed += 1;
      return fetch(input, init);
    },
    open() {
      opened = true;
      release();
    },
    get waiting() {
      return state.waiting;
    },
    get passed() {
      return state.passed;
    },
  };
}

interface Setup {
  guard?: Omit<ClaudeGuardOptions, 'client' | 'onEvent'>;
  proxy?: Omit<RouteOptions, 'route'>;
  chat?: Omit<RouteOptions, 'route'>;
  fake?: FakeAnthropicOptions;
  gateClosed?: boolean;
}

interface Harness {
  readonly fake: FakeAnthropic;
  readonly guard: ClaudeGuard;
  readonly gate: Gate;
  readonly events: GuardEvent[];
  /** The end user's SDK, pointed at our app, without retries of its own. */
  readonly user: Anthropic;
  readonly base: string;
}

const closers: (() => Promise<void>)[] = [];
let timersBefore = 0;
beforeEach(() => {
  timersBefore = activeTimeouts();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  // No timer of a queue wait, a hold, a deadline or an attempt outlives the test.
  expect(await eventually(() => activeTimeouts() <= timersBefore, true)).toBe(true);
});
const watch = useProcessWatch();

async function start(adapter: AdapterName, setup: Setup = {}): Promise<Harness> {
  const fake = await createFakeAnthropic(setup.fake ?? {});
  closers.push(() => fake.close());
  const door = gate(setup.gateClosed ?? false);
  const client = new Anthropic({ apiKey: API_KEY, baseURL: fake.url, fetch: door.fetch });
  const events: GuardEvent[] = [];
  const guard = createClaudeGuard({
    ...setup.guard,
    client,
    retry: { ...FAST_RETRY, ...setup.guard?.retry },
    onEvent: (event) => events.push(event),
  });
  closers.push(() => {
    door.open();
    guard.close();
    return Promise.resolve();
  });
  const { server } = await startApp({
    adapter,
    guard,
    client,
    routes: [
      { kind: 'proxy', path: '/v1/messages', options: { route: 'proxy', ...setup.proxy } },
      { kind: 'chat', path: '/chat', options: { route: 'chat', ...setup.chat } },
    ],
  });
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { fake, guard, gate: door, events, user: new Anthropic({ apiKey: 'x', baseURL: base, maxRetries: 0 }), base };
}

/** The proxy route's queue as `guard.status()` shows it. */
function queueOf(h: Harness, key = 'proxy') {
  const queue = h.guard.status().admission.queues.find((q) => q.name === key);
  return queue && { active: queue.active, queued: queue.queued.interactive + queue.queued.batch };
}

/** A clock at a whole second of real time: fake-anthropic's rate-limit windows then end exactly `windowMs` later. */
function wallAlignedClock(): ManualClock {
  return manualClock(Math.ceil(Date.now() / 1000) * 1000);
}

async function settle<T>(promise: Promise<T>): Promise<T | APIError> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof APIError) return error;
    throw error;
  }
}

describe.each(ADAPTERS)('admission control (%s)', (adapter) => {
  it.each([false, true])(
    'maxConcurrency 4, maxQueue 4, 20 at once (stream: %s): 4 upstream at most, 12 fast 503s, 8 complete',
    async (stream) => {
      const h = await start(adapter, {
        proxy: { concurrency: { maxConcurrency: 4, maxQueue: 4 } },
        gateClosed: true,
      });
      let answered = 0;
      const calls = Array.from({ length: 20 }, () =>
        settle(
          (async () => {
            if (!stream) return (await h.user.messages.create(params())).content;
            let text = 0;
            for await (const event of await h.user.messages.create({ ...params(), stream: true })) {
              if (event.type === 'content_block_delta') text += 1;
            }
            return text;
          })(),
        ).finally(() => {
          answered += 1;
        }),
      );
      // The 12 beyond the slots and the queue are answered while the 4 upstream calls are still held.
      expect(await eventually(() => answered, 12)).toBe(12);
      expect(await eventually(() => h.gate.waiting, 4)).toBe(4);
      expect(queueOf(h)).toEqual({ active: 4, queued: 4 });
      h.gate.open();
      const results = await Promise.all(calls);
      const refused = results.filter((r): r is APIError => r instanceof APIError);
      expect(refused).toHaveLength(12);
      for (const error of refused) {
        expect(error.status).toBe(503);
        expect(error.type).toBe('overloaded_error');
        expect(error.headers?.get('retry-after')).toBe('1');
        expect(error.headers?.get('x-should-retry')).toBe('false');
        expect(error.message).toContain("queue 'proxy' is full");
      }
      expect(results.length - refused.length).toBe(8);
      expect(h.fake.requests).toHaveLength(8);
      expect(h.fake.maxInFlight()).toBeLessThanOrEqual(4);
      expect(await eventually(() => queueOf(h), { active: 0, queued: 0 })).toEqual({ active: 0, queued: 0 });
      expect(watch.unhandled).toEqual([]);
    },
  );

  it("retries re-enter through the request's slot: a waiter is not let in while the first request retries", async () => {
    const h = await start(adapter, { proxy: { concurrency: { maxConcurrency: 1, maxQueue: 1 } }, gateClosed: true });
    h.fake.enqueue(529, 'ok', 'ok');
    const first = settle(h.user.messages.create(params('alpha')));
    expect(await eventually(() => h.gate.waiting, 1)).toBe(1);
    const second = settle(h.user.messages.create(params('beta')));
    expect(await eventually(() => queueOf(h), { active: 1, queued: 1 })).toEqual({ active: 1, queued: 1 });
    h.gate.open();
    expect(await first).not.toBeInstanceOf(APIError);
    expect(await second).not.toBeInstanceOf(APIError);
    const prompts = h.fake.requests.map((r) => (JSON.stringify(r.body).includes('alpha') ? 'alpha' : 'beta'));
    expect(prompts).toEqual(['alpha', 'alpha', 'beta']);
    expect(h.fake.requests.map((r) => r.status)).toEqual([529, 200, 200]);
    expect(h.fake.maxInFlight()).toBe(1);
  });

  it('a stream holds its slot while the upstream streams, and gives it back at the deadline even if its client stops reading', async () => {
    const clock = manualClock();
    const h = await start(adapter, {
      guard: { clock, deadline: { reserveMs: 0 } },
      proxy: { concurrency: { maxConcurrency: 1, maxQueue: 0 } },
      fake: { tokenDelayMs: 30_000 },
    });
    const reader = await fetch(`${h.base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-timeout-ms': '5000' },
      body: JSON.stringify({ ...params(), stream: true }),
    });
    expect(reader.status).toBe(200); // committed; its body is never read
    expect(queueOf(h)).toEqual({ active: 1, queued: 0 });
    const refused = await settle(h.user.messages.create(params()));
    expect((refused as APIError).status).toBe(503);
    clock.advance(5_000);
    expect(await eventually(() => queueOf(h), { active: 0, queued: 0 })).toEqual({ active: 0, queued: 0 });
    await reader.body?.cancel();
  });

  it('a deadline that runs out in the queue: 504 naming the queue, on time, and the upstream is never called', async () => {
    const clock = manualClock();
    const h = await start(adapter, {
      guard: { clock, deadline: { reserveMs: 0 } },
      proxy: { concurrency: { maxConcurrency: 1, maxQueue: 1 } },
      gateClosed: true,
    });
    const first = settle(h.user.messages.create(params()));
    expect(await eventually(() => h.gate.waiting, 1)).toBe(1);
    let late: Anthropic.Message | APIError | undefined;
    const pending = settle(h.user.messages.create(params(), { headers: { 'x-request-timeout-ms': '300' } })).then(
      (result) => (late = result),
    );
    expect(await eventually(() => queueOf(h), { active: 1, queued: 1 })).toEqual({ active: 1, queued: 1 });
    clock.advance(299);
    await new Promise((resolve) => setImmediate(resolve));
    expect(queueOf(h)).toEqual({ active: 1, queued: 1 });
    clock.advance(1);
    await pending;
    expect(late).toBeInstanceOf(APIError);
    const error = late as APIError;
    expect(error.status).toBe(504);
    expect(error.type).toBe('timeout_error');
    expect(error.message).toContain("after 300 ms in the queue 'proxy'");
    expect(error.message).toContain('Claude was not called');
    expect(h.gate.passed + h.gate.waiting).toBe(1);
    h.gate.open();
    expect(await first).not.toBeInstanceOf(APIError);
    expect(h.fake.requests).toHaveLength(1);
    expect(await eventually(() => clock.pending, 0)).toBe(0);
  });

  it('a client that disconnects in the queue leaves it at once, the upstream is never called, no slot leaks', async () => {
    const h = await start(adapter, { proxy: { concurrency: { maxConcurrency: 1, maxQueue: 2 } }, gateClosed: true });
    const first = settle(h.user.messages.create(params()));
    expect(await eventually(() => h.gate.waiting, 1)).toBe(1);
    const leaving = new AbortController();
    const gone = h.user.messages.create(params(), { signal: leaving.signal }).catch((error: unknown) => error);
    expect(await eventually(() => queueOf(h), { active: 1, queued: 1 })).toEqual({ active: 1, queued: 1 });
    leaving.abort();
    await gone;
    expect(await eventually(() => queueOf(h), { active: 1, queued: 0 })).toEqual({ active: 1, queued: 0 });
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'admission-shed', reason: 'client-aborted' }));
    h.gate.open();
    expect(await first).not.toBeInstanceOf(APIError);
    // The slot came back: the next request is served at once.
    expect(await settle(h.user.messages.create(params()))).not.toBeInstanceOf(APIError);
    expect(h.fake.requests).toHaveLength(2);
    expect(await eventually(() => queueOf(h), { active: 0, queued: 0 })).toEqual({ active: 0, queued: 0 });
  });

  it('requests remaining 0, reset 2 s away: held then sent after the reset, no upstream 429; a short deadline gets 429 at once', async () => {
    const clock = wallAlignedClock();
    const h = await start(adapter, {
      guard: { clock, deadline: { reserveMs: 0 } },
      fake: { rateLimits: { requests: 2, windowMs: 2_000 }, wallClock: () => clock.now() },
    });
    await h.user.messages.create(params());
    await h.user.messages.create(params());
    expect(h.guard.status().admission.clients[0]!.limits.requests).toMatchObject({ limit: 2, remaining: 0 });

    let held: Anthropic.Message | APIError | undefined;
    const heldCall = settle(h.user.messages.create(params())).then((result) => (held = result));
    expect(await eventually(() => h.events.some((e) => e.type === 'rate-limit-wait'), true)).toBe(true);

    const hurried = await settle(h.user.messages.create(params(), { headers: { 'x-request-timeout-ms': '1000' } }));
    expect(hurried).toBeInstanceOf(APIError);
    expect((hurried as APIError).status).toBe(429);
    expect((hurried as APIError).type).toBe('rate_limit_error');
    expect((hurried as APIError).headers?.get('retry-after')).toBe('2');
    expect((hurried as APIError).message).toContain('rate limit on requests');
    expect(held).toBeUndefined();
    expect(h.fake.requests).toHaveLength(2);

    clock.advance(2_000);
    await heldCall;
    expect(held).not.toBeInstanceOf(APIError);
    expect(h.fake.requests.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await eventually(() => clock.pending, 0)).toBe(0);
  });

  it("a stream's usage recalibrates the token estimate as a message's does", async () => {
    const streamed = await start(adapter);
    const stream = await streamed.user.messages.create({ ...params(), stream: true });
    const events: string[] = [];
    for await (const event of stream) events.push(event.type);
    expect(events.at(-1)).toBe('message_stop');
    const afterStream = streamed.guard.status().admission.clients[0]!.estimateRatio;
    // The heuristic's estimate and the fake's count differ: a reconciled call moves the ratio off 1.
    expect(afterStream).not.toBe(1);
    const answered = await start(adapter);
    await answered.user.messages.create(params());
    expect(afterStream).toBeCloseTo(answered.guard.status().admission.clients[0]!.estimateRatio, 10);
  });

  it("a 429 on one route pauses a second route on the same client, for the 429's retry-after", async () => {
    const clock = wallAlignedClock();
    const h = await start(adapter, {
      guard: { clock, deadline: { reserveMs: 0 }, retry: { maxAttempts: 1 } },
    });
    h.fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '3' } });
    const chat = await fetch(`${h.base}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'hello' }),
    });
    expect(chat.status).toBe(429);
    await chat.arrayBuffer();
    const other = await settle(h.user.messages.create(params(), { headers: { 'x-request-timeout-ms': '2000' } }));
    expect(other).toBeInstanceOf(APIError);
    expect((other as APIError).status).toBe(429);
    expect((other as APIError).headers?.get('retry-after')).toBe('3');
    expect((other as APIError).message).toContain('paused');
    expect(h.fake.requests).toHaveLength(1);
    expect(h.guard.publicStatus().admission.clients[0]!.hold).toEqual({ reason: 'paused', retryAfterSeconds: 3 });
    clock.advance(3_000);
    expect(await settle(h.user.messages.create(params()))).not.toBeInstanceOf(APIError);
    expect(h.fake.requests).toHaveLength(2);
  });

  it('a spend-limit 429: one attempt, the breaker untouched, immediate 429s during the hold, then normal service', async () => {
    const clock = wallAlignedClock();
    const h = await start(adapter, {
      guard: { clock, rateLimits: { spendLimitHoldMs: 30_000 } },
      proxy: { breaker: { volumeThreshold: 1 } },
    });
    h.fake.enqueue({
      kind: 'status',
      status: 429,
      errorCode: 'enforced_spend_limit_reached',
      message: `You have reached your specified workspace API usage limits (key ${API_KEY})`,
    });
    const first = await settle(h.user.messages.create(params()));
    expect(first).toBeInstanceOf(APIError);
    expect((first as APIError).status).toBe(429);
    expect(h.fake.requests).toHaveLength(1);
    const breaker = h.guard.status().breakers.find((b) => b.key === 'proxy')!;
    expect(breaker.state).toBe('closed');
    expect(breaker.counts).toMatchObject({ failures: 0, successes: 0, neutral: 1 });

    for (let i = 0; i < 3; i++) {
      const held = await settle(h.user.messages.create(params()));
      expect(held).toBeInstanceOf(APIError);
      expect((held as APIError).status).toBe(429);
      expect((held as APIError).headers?.get('retry-after')).toBe('30');
      expect((held as APIError).message).toContain('You have reached your specified workspace API usage limits');
      expect((held as APIError).message).toContain('enforced_spend_limit_reached');
      expect((held as APIError).message).not.toContain(API_KEY);
    }
    expect(h.fake.requests).toHaveLength(1);
    clock.advance(30_000);
    expect(await settle(h.user.messages.create(params()))).not.toBeInstanceOf(APIError);
    expect(h.fake.requests).toHaveLength(2);
    expect(h.guard.status().breakers.find((b) => b.key === 'proxy')!.state).toBe('closed');
  });
});

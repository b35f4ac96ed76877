import type Anthropic from '@anthropic-ai/sdk';
import { claudeGuardErrorOf, sdkOptions, type RouteOptions } from '@claude-guard/core';
import { describe, expect, it, vi } from 'vitest';
import {
  ADAPTERS,
  ALL_ADAPTERS,
  LATE_HEADERS,
  MANUAL_DEADLINE_MS,
  NO_RESERVE,
  activeTimeouts,
  directClient,
  expectAnthropicError,
  manualClock,
  params,
  retryCounts,
  runOutAtUpstream,
  trackingClock,
  useProcessWatch,
  useStack,
  type ManualClock,
  type RouteSpec,
  type Stack,
} from '../support/index.js';

// guard.middleware(): calls made on an SDK client built with it, never through req.claude, over real
// HTTP to fake-anthropic. The `direct` route (test/support/apps.ts) is claudeGuard() plus a handler that
// calls such a client, with the SDK's default maxRetries (2), which the middleware must veto.

const BREAKER = { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeout: 60_000 };
const IDLE_MS = 1_000;

function direct(options: Omit<RouteOptions, 'route'> = {}): RouteSpec {
  return { kind: 'direct', path: '/direct', options: { route: 'direct', ...options } };
}

interface DirectAnswer {
  text: string;
  error?: { name: string; status?: number; type?: string; message: string };
}

/** Sends `request` and moves `clock` on by `step` until it has answered (a timer armed while we wait fires). */
async function advanceUntilAnswered<T>(clock: ManualClock, step: number, request: Promise<T>): Promise<T> {
  let answered = false;
  const answer = request.finally(() => {
    answered = true;
  });
  await vi.waitFor(
    () => {
      if (answered) return;
      clock.advance(step);
      throw new Error('not answered yet');
    },
    { timeout: 10_000, interval: 10 },
  );
  return answer;
}

describe.each(ALL_ADAPTERS)('guard.middleware() (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  describe('a call inside a guarded route', () => {
    it("honours the caller's deadline header: 504 on time, the upstream aborted, x-stainless-timeout within the time left", async () => {
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock }, routes: [direct()] });
      h.fake.enqueue(LATE_HEADERS);
      const result = await runOutAtUpstream(h.fake, clock, () =>
        h.send('/direct', { message: 'hi' }, { headers: { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) } }),
      );
      expect(result.status).toBe(504);
      const error = expectAnthropicError(result);
      expect(error.type).toBe('timeout_error');
      expect(error.message).toContain(
        `caller's deadline (from the request header) of ${MANUAL_DEADLINE_MS} ms ran out`,
      );
      // The response's id is the request's, which the call took from its context.
      expect(result.body).toMatchObject({ request_id: result.headers.get('x-request-id') });
      await h.fake.settled();
      expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
      expect(Number(h.fake.requests[0]!.headers['x-stainless-timeout'])).toBeLessThanOrEqual(MANUAL_DEADLINE_MS / 1000);
      // The caller's deadline is neutral for the breaker.
      const breaker = h.guard.status().breakers.find((b) => b.key === 'direct');
      expect(breaker?.counts).toMatchObject({ failures: 0, neutral: 1 });
    });

    it('a client disconnect aborts the upstream request', async () => {
      const h = await start(adapter, { routes: [direct()] });
      h.fake.enqueue(LATE_HEADERS);
      const controller = new AbortController();
      const pending = h.post('/direct', { message: 'hi' }, { signal: controller.signal });
      pending.catch(() => undefined);
      await vi.waitFor(() => expect(h.fake.requests).toHaveLength(1), { timeout: 10_000, interval: 5 });
      controller.abort();
      await h.fake.settled();
      expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
      await vi.waitFor(() =>
        expect(h.logs.map((call) => call.record)).toContainEqual(
          expect.objectContaining({ route: 'direct', outcome: 'client-aborted' }),
        ),
      );
    });

    it('529, 529, ok: exactly three upstream attempts, none added by the SDK', async () => {
      const h = await start(adapter, { routes: [direct()] });
      const expected = await h.directText();
      h.fake.enqueue(529, 529, 'ok');
      const result = await h.send('/direct', { message: params().messages[0]!.content });
      expect(result.status).toBe(200);
      expect(result.body).toEqual({ text: expected });
      await h.fake.settled();
      // The guard's attempt numbers: the SDK (maxRetries 2) retried nothing on top.
      expect(retryCounts(h.fake)).toEqual(['0', '1', '2']);
    });

    it('a 400 is not retried, by the guard or the SDK', async () => {
      const h = await start(adapter, { routes: [direct()] });
      h.fake.enqueue({ kind: 'status', status: 400, message: 'bad thing' });
      const result = await h.send('/direct', { message: 'hi' });
      expect(result.status).toBe(400);
      expect(expectAnthropicError(result).type).toBe('invalid_request_error');
      await h.fake.settled();
      expect(h.fake.requests).toHaveLength(1);
    });

    it('the breaker opens after its threshold and then rejects without calling Claude', async () => {
      const h = await start(adapter, { routes: [direct({ retry: { maxAttempts: 1 }, breaker: BREAKER })] });
      h.fake.setDefault({ faultRate: 1, fault: 529 });
      expect((await h.send('/direct', { message: 'hi' })).status).toBe(529);
      expect((await h.send('/direct', { message: 'hi' })).status).toBe(529);
      const rejected = await h.send('/direct', { message: 'hi' });
      expect(rejected.status).toBe(503);
      expect(expectAnthropicError(rejected).message).toContain('circuit breaker is open');
      expect(h.fake.requests).toHaveLength(2);
      // And in /guard/status under the middleware's route name.
      expect(h.guard.publicStatus().breakers).toContainEqual(expect.objectContaining({ key: 'direct', state: 'open' }));

      // The refusal is the guard's own work only, measured on the middleware itself: no upstream, no timer.
      const middleware = h.guard.middleware({ route: 'direct' });
      const next = vi.fn(() => Promise.reject(new Error('an open breaker must not call Claude')));
      const ctx = {
        options: { method: 'post' as const, path: '/v1/messages', body: params() },
        logger: console,
        parse: () => Promise.reject(new Error('unused')),
      };
      const request = () => ({
        url: `${h.fake.url}/v1/messages`,
        method: 'POST',
        headers: new Headers({ 'content-type': 'application/json' }),
        body: JSON.stringify(params()),
      });
      const durations: number[] = [];
      for (let i = 0; i < 41; i++) {
        const began = performance.now();
        const response = await middleware(request(), next, ctx as never);
        durations.push(performance.now() - began);
        expect(response.status).toBe(503);
        await response.body?.cancel();
      }
      expect(next).not.toHaveBeenCalled();
      durations.sort((a, b) => a - b);
      expect(durations[20]).toBeLessThan(1);
    });

    it('concurrent requests with different deadlines, interleaved, each keep their own', async () => {
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock }, routes: [direct()] });
      h.fake.enqueue(LATE_HEADERS, LATE_HEADERS);
      const short = h.send('/direct', { message: 'a' }, { headers: { 'x-request-timeout-ms': '30000' } });
      const long = h.send('/direct', { message: 'b' }, { headers: { 'x-request-timeout-ms': '60000' } });
      await vi.waitFor(() => expect(h.fake.requests).toHaveLength(2), { timeout: 10_000, interval: 5 });
      const sent = h.fake.requests.map((r) => r.headers['x-stainless-timeout']).sort();
      expect(sent).toEqual(['30', '60']);

      clock.advance(30_000);
      const first = await short;
      expect(first.status).toBe(504);
      expect(expectAnthropicError(first).message).toContain('of 30000 ms');
      let longDone = false;
      void long.finally(() => {
        longDone = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(longDone).toBe(false);

      clock.advance(30_000);
      const second = await long;
      expect(second.status).toBe(504);
      expect(expectAnthropicError(second).message).toContain('of 60000 ms');
      expect(first.headers.get('x-request-id')).not.toBe(second.headers.get('x-request-id'));
    });
  });

  describe('a stream through the middleware', () => {
    it("a stall makes the SDK's iterator throw (not end cleanly) once the idle timeout runs out", async () => {
      const clock = manualClock();
      const h = await start(adapter, {
        guard: { clock, stream: { idleTimeoutMs: IDLE_MS, heartbeatMs: 60_000 } },
        routes: [direct()],
      });
      h.fake.enqueue({ kind: 'stall', afterEvents: 3 });
      const answer = h.send('/direct', { message: 'hi', stream: true });
      await vi.waitFor(() => expect(h.fake.requests[0]?.eventsSent).toBe(3), { timeout: 10_000, interval: 5 });
      const before = clock.now();
      const result = await advanceUntilAnswered(clock, IDLE_MS / 4, answer);
      expect(result.status).toBe(200);
      const body = result.body as DirectAnswer;
      expect(body.error).toMatchObject({ type: 'timeout_error' });
      expect(body.error?.message).toContain(`no event for ${IDLE_MS} ms`);
      // Raised by the idle timeout, not by the deadline (the route's default, a minute).
      expect(clock.now() - before).toBeLessThan(MANUAL_DEADLINE_MS);
      await h.fake.settled();
      expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
    });

    it('a first event that never comes: the attempt is abandoned at the first-event timeout and retried', async () => {
      const clock = manualClock();
      const h = await start(adapter, {
        guard: { clock, stream: { firstEventTimeoutMs: 2_000, heartbeatMs: 60_000 } },
        routes: [direct()],
      });
      const expected = await h.directText();
      h.fake.enqueue({ kind: 'stall', afterEvents: 0 }, 'ok');
      const answer = h.send('/direct', { message: params().messages[0]!.content, stream: true });
      await vi.waitFor(() => expect(h.fake.requests).toHaveLength(1), { timeout: 10_000, interval: 5 });
      const result = await advanceUntilAnswered(clock, 500, answer);
      expect(result.body).toEqual({ text: expected });
      await h.fake.settled();
      expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted', 'completed']);
    });

    it('an in-band overloaded first event is retried invisibly', async () => {
      const h = await start(adapter, { routes: [direct()] });
      const expected = await h.directText();
      h.fake.enqueue({ kind: 'in-band-error', afterEvents: 0, type: 'overloaded_error' }, 'ok');
      const result = await h.send('/direct', { message: params().messages[0]!.content, stream: true });
      expect(result.status).toBe(200);
      expect(result.body).toEqual({ text: expected });
      await h.fake.settled();
      expect(h.fake.requests).toHaveLength(2);
      expect(retryCounts(h.fake)).toEqual(['0', '1']);
    });
  });

  describe('outside any request', () => {
    it("a background call uses the route's defaults", async () => {
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock } });
      h.guard.route({ route: 'nightly', deadline: { defaultMs: 20_000 } });
      const client = directClient(h.guard, h.guardClient, 'nightly');
      h.fake.enqueue(LATE_HEADERS);
      const error = await runOutAtUpstream(
        h.fake,
        clock,
        () =>
          client.messages.create(params()).then(
            () => undefined,
            (e: unknown) => e,
          ),
        20_000,
      );
      const guardError = claudeGuardErrorOf(error);
      expect(guardError).toMatchObject({ status: 504, outcome: 'deadline-exceeded' });
      expect(guardError?.message).toContain("route 'nightly'");
      expect((error as { status?: number }).status).toBe(504);
      expect(h.fake.requests[0]!.headers['x-stainless-timeout']).toBe('20');
      await h.fake.settled();
      expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
      expect(await h.logLine()).toMatchObject({ route: 'nightly', outcome: 'deadline-exceeded', status: 504 });
    });

    it("its answers teach the rate-limit tracker: the limits from its headers, usage against the estimate, a 429's pause for every route", async () => {
      // Whole seconds, as the fake's reset headers are.
      const clock = manualClock(Math.ceil(Date.now() / 1000) * 1000);
      const h = await start(adapter, {
        guard: { clock, retry: { maxAttempts: 1 } },
        fake: { rateLimits: { requests: 5, windowMs: 60_000 }, wallClock: () => clock.now() },
      });
      h.guard.route({ route: 'nightly' });
      const client = directClient(h.guard, h.guardClient, 'nightly');
      await client.messages.create(params());
      const [learnt] = h.guard.status().admission.clients;
      expect(learnt!.limits.requests).toMatchObject({ limit: 5, remaining: 4 });
      // The answer's usage came back against the call's estimate: the calibration moved off its start.
      expect(learnt!.estimateRatio).not.toBe(1);
      // A stream's usage too, told at its message_stop: the ratio learns again (a fifth of the way each time).
      const stream = await client.messages.create({ ...params(), stream: true });
      for await (const event of stream) expect(event.type).not.toBe('error');
      expect(h.guard.status().admission.clients[0]!.estimateRatio).not.toBe(learnt!.estimateRatio);
      expect(h.guard.status().admission.clients[0]!.limits.requests).toMatchObject({ remaining: 3 });

      h.fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '3' } });
      const refused = await client.messages.create(params()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((refused as { status?: number }).status).toBe(429);
      expect(h.guard.publicStatus().admission.clients[0]!.hold).toEqual({ reason: 'paused', retryAfterSeconds: 3 });
      // The pause holds the client's calls on the other routes too, answered at once without calling Claude.
      const held = await h.client.messages.create(params(), { headers: { 'x-request-timeout-ms': '1000' } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((held as { status?: number }).status).toBe(429);
      expect(h.fake.requests).toHaveLength(3);
    });

    it("admission applies: a call and a stream hold the route's slot, a call over the limit gets 503 without calling Claude", async () => {
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock }, fake: { tokenDelayMs: 2_000, replyWords: 2 } });
      h.guard.route({
        route: 'limited',
        deadline: { defaultMs: 20_000 },
        concurrency: { maxConcurrency: 1, maxQueue: 0 },
      });
      const client = directClient(h.guard, h.guardClient, 'limited');
      const active = () => h.guard.status().admission.queues.find((q) => q.name === 'limited')?.active;
      const settle = (call: Promise<unknown>) =>
        call.then(
          () => undefined,
          (e: unknown) => e,
        );
      h.fake.enqueue(LATE_HEADERS);
      const first = settle(client.messages.create(params()));
      await vi.waitFor(() => expect(h.fake.requests).toHaveLength(1), { timeout: 10_000, interval: 5 });
      const refused = await settle(client.messages.create(params()));
      expect((refused as { status?: number }).status).toBe(503);
      expect(claudeGuardErrorOf(refused)).toMatchObject({ status: 503, type: 'overloaded_error' });
      expect(h.fake.requests).toHaveLength(1); // refused before Claude, and not retried by the SDK
      clock.advance(20_000);
      expect(claudeGuardErrorOf(await first)).toMatchObject({ status: 504 });
      // The slot is back: a stream takes it and holds it while the upstream streams.
      const stream = await client.messages.create({ ...params(), stream: true });
      expect(active()).toBe(1);
      const whileStreaming = await settle(client.messages.create(params()));
      expect(claudeGuardErrorOf(whileStreaming)).toMatchObject({ status: 503, type: 'overloaded_error' });
      const seen: string[] = [];
      for await (const event of stream) seen.push(event.type);
      expect(seen.at(-1)).toBe('message_stop');
      await vi.waitFor(() => expect(active()).toBe(0), { timeout: 10_000, interval: 5 });
      const after = await client.messages.create(params());
      expect(after.type).toBe('message');
      expect(h.fake.requests).toHaveLength(3);
    });

    it('guard.withContext() sets the deadline and the request id explicitly', async () => {
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock } });
      const client = directClient(h.guard, h.guardClient, 'jobs');
      h.fake.enqueue(LATE_HEADERS);
      const error = await runOutAtUpstream(
        h.fake,
        clock,
        () =>
          h.guard.withContext({ deadlineMs: 5_000, requestId: 'job_42' }, () =>
            client.messages.create(params()).then(
              () => undefined,
              (e: unknown) => e,
            ),
          ),
        5_000,
      );
      expect(claudeGuardErrorOf(error)).toMatchObject({ status: 504, outcome: 'deadline-exceeded' });
      expect(h.fake.requests[0]!.headers['x-stainless-timeout']).toBe('5');
      expect(await h.logLine()).toMatchObject({ route: 'jobs', requestId: 'job_42', outcome: 'deadline-exceeded' });
    });

    it('inside guard.run the middleware leaves the attempt to guard.run: no attempts multiplied', async () => {
      const h = await start(adapter);
      const client = directClient(h.guard, h.guardClient, 'inner');
      h.fake.enqueue(529, 'ok');
      const message = await h.guard.run('outer', (attempt) => client.messages.create(params(), sdkOptions(attempt)));
      expect(message.type).toBe('message');
      await h.fake.settled();
      expect(h.fake.requests).toHaveLength(2);
      await h.waitForLogs(1);
      expect(h.logs.map((call) => call.record['route'])).toEqual(['outer']);
    });

    it('a call may name its route: a per-request middleware, or the route header (never sent)', async () => {
      const h = await start(adapter);
      const client: Anthropic = directClient(h.guard, h.guardClient, 'default-route');
      await client.messages.create(params(), { middleware: [h.guard.middleware({ route: 'per-request' })] });
      await client.messages.create(params(), { headers: { 'x-claude-guard-route': 'by-header' } });
      await client.messages.create(params());
      await h.waitForLogs(3);
      expect(h.logs.map((call) => call.record['route'])).toEqual(['per-request', 'by-header', 'default-route']);
      // One attempt each: the client-wide middleware left the call to the per-request one.
      expect(retryCounts(h.fake)).toEqual(['0', '0', '0']);
      expect(h.fake.requests.map((r) => r.headers['x-claude-guard-route'])).toEqual([undefined, undefined, undefined]);
    });
  });
});

describe.each(ADAPTERS)('guard.middleware() leaves nothing behind (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);
  const watch = useProcessWatch();

  it('no guard timer, Node timer, listener or context after ok, retried, failed, streamed and stalled calls', async () => {
    const timers = trackingClock();
    const h: Stack = await start(adapter, {
      guard: { clock: timers.clock, stream: { idleTimeoutMs: 200, heartbeatMs: 10_000 } },
      routes: [direct()],
    });
    const baseline = activeTimeouts();
    h.fake.enqueue('ok', 529, 'ok', { kind: 'status', status: 400 }, 'ok', { kind: 'stall', afterEvents: 3 });
    expect((await h.send('/direct', { message: 'a' })).status).toBe(200);
    expect((await h.send('/direct', { message: 'b' })).status).toBe(200);
    expect((await h.send('/direct', { message: 'c' })).status).toBe(400);
    expect((await h.send('/direct', { message: 'd', stream: true })).body).not.toHaveProperty('error');
    expect((await h.send('/direct', { message: 'e', stream: true })).body).toHaveProperty('error');
    await h.fake.settled();
    await h.waitForLogs(10);

    await vi.waitFor(() => expect(timers.pending()).toEqual([]), { timeout: 2_000, interval: 5 });
    await vi.waitFor(() => expect(activeTimeouts()).toBeLessThanOrEqual(baseline), { timeout: 1_000, interval: 5 });
    expect(watch.unhandled).toEqual([]);
    expect(watch.maxListenerWarnings).toEqual([]);
    // No context outlives its request: a call made now is a background call with a fresh id.
    const client = directClient(h.guard, h.guardClient, 'after');
    await client.messages.create(params());
    await h.waitForLogs(11);
    const ids = h.logs.map((call) => call.record['requestId']);
    expect(ids.slice(0, -1)).not.toContain(ids.at(-1));
  });
});

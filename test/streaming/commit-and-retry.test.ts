import { APIError } from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  MANUAL_DEADLINE_MS,
  deltaText,
  isCompleteAnthropicStream,
  json,
  manualClock,
  names,
  params,
  readSse,
  runOutAtUpstream,
  startStack,
  type Stack,
} from '../support/index.js';

/** A first event that comes long after any deadline of these tests (the headers come at once). */
const LATE_FIRST_EVENT = { kind: 'slow', firstEventDelayMs: 120_000 } as const;

let h: Stack | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function sdkError(promise: Promise<unknown>): Promise<APIError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof APIError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe.each(ADAPTERS)('streaming via %s: commit late, retry early', (adapter) => {
  it('streams a whole answer the SDK reads exactly as from Claude directly', async () => {
    h = await startStack({ adapter });
    const expected = await h.directText();

    const stream = h.client.messages.stream(params());
    const text = await stream.finalText();
    const final = await stream.finalMessage();

    expect(text).toBe(expected);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBe(12);
    expect(h.fake.requests).toHaveLength(1);
    const line = await h.logLine();
    expect(line).toMatchObject({
      route: 'proxy',
      status: 200,
      outcome: 'ok',
      attempts: 1,
      stream: true,
      outputTokens: 12,
    });
    expect(h.guard.status().breakers.find((b) => b.key === 'proxy')?.counts).toMatchObject({
      successes: 1,
      failures: 0,
    });
  });

  it('retries a 529 before the first event: one answer to the user, two upstream attempts', async () => {
    h = await startStack({ adapter });
    const expected = await h.directText();
    h.fake.enqueue(529, 'ok');

    const text = await h.client.messages.stream(params()).finalText();

    expect(text).toBe(expected);
    expect(h.fake.requests.map((r) => r.status)).toEqual([529, 200]);
    expect(h.fake.requests.map((r) => r.headers['x-stainless-retry-count'])).toEqual(['0', '0']);
    expect(await h.logLine()).toMatchObject({ outcome: 'ok', attempts: 2 });
    expect(h.events.filter((e) => e.type === 'stream-committed')).toEqual([
      expect.objectContaining({ by: 'first-event', attempt: 1 }),
    ]);
  });

  it('retries an in-band overloaded_error sent as the very first event; the user sees a clean stream', async () => {
    h = await startStack({ adapter });
    const expected = await h.directText();
    h.fake.enqueue({ kind: 'in-band-error', afterEvents: 0 }, 'ok');

    const response = await h.post('/v1/messages', { ...params(), stream: true });
    const events = await readSse(response);

    expect(response.status).toBe(200);
    expect(isCompleteAnthropicStream(events)).toBe(true);
    expect(names(events)).not.toContain('error');
    expect(deltaText(events)).toBe(expected);
    await h.fake.settled();
    expect(h.fake.requests).toHaveLength(2);
    expect(h.fake.requests[0]).toMatchObject({ status: 200, eventsSent: 1, outcome: 'completed' });
    expect(await h.logLine()).toMatchObject({ outcome: 'ok', attempts: 2 });
  });

  it('the SDK also reads the retried in-band failure as one clean stream', async () => {
    h = await startStack({ adapter });
    const expected = await h.directText();
    h.fake.enqueue({ kind: 'in-band-error', afterEvents: 0 }, 'ok');

    expect(await h.client.messages.stream(params()).finalText()).toBe(expected);
    expect(h.fake.requests).toHaveLength(2);
  });

  it('retries a stall before the first event (first-event timeout) and then succeeds', async () => {
    // The first-event timeout runs on a manual clock: it fires for the stalled attempt, on advance(), and never
    // for the healthy one, however long a loaded machine takes to bring its first event. The backoff is real time.
    const clock = manualClock(undefined, { realBelowMs: 50 });
    h = await startStack({ adapter, guard: { clock, stream: { firstEventTimeoutMs: 100, heartbeatMs: 10_000 } } });
    const s = h;
    const expected = await s.directText();
    s.fake.enqueue({ kind: 'stall', afterEvents: 0 }, 'ok');

    const text = await runOutAtUpstream(s.fake, clock, () => s.client.messages.stream(params()).finalText(), 100);

    expect(text).toBe(expected);
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted', 'completed']);
    expect(h.fake.requests[0]?.eventsSent).toBe(0);
    expect(await h.logLine()).toMatchObject({ outcome: 'ok', attempts: 2 });
  });

  it('answers a real HTTP 504 when every attempt stalls before the first event (no heartbeat yet)', async () => {
    h = await startStack({ adapter, guard: { stream: { firstEventTimeoutMs: 100, heartbeatMs: 10_000 } } });
    h.fake.setDefault({ faultRate: 1, fault: { kind: 'stall', afterEvents: 0 } });

    const response = await h.post('/v1/messages', { ...params(), stream: true });

    expect(response.status).toBe(504);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('x-should-retry')).toBe('false');
    const body = (await response.json()) as { type: string; error: { type: string } };
    expect(body).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted', 'client-aborted', 'client-aborted']);
    expect(await h.logLine()).toMatchObject({ status: 504, outcome: 'stream-stalled', attempts: 3 });
  });

  it('the SDK sees that 504 as a GatewayTimeoutError', async () => {
    h = await startStack({
      adapter,
      guard: { stream: { firstEventTimeoutMs: 100, heartbeatMs: 10_000 }, retry: { maxAttempts: 2 } },
    });
    h.fake.setDefault({ faultRate: 1, fault: { kind: 'stall', afterEvents: 0 } });

    const error = await sdkError(h.client.messages.create({ ...params(), stream: true }));

    expect(error.status).toBe(504);
    expect(error.type).toBe('timeout_error');
    expect(h.fake.requests).toHaveLength(2);
  });

  it('once a heartbeat committed the 200, a stall on every attempt ends in an in-band timeout_error', async () => {
    h = await startStack({ adapter, guard: { stream: { firstEventTimeoutMs: 100, heartbeatMs: 20 } } });
    h.fake.setDefault({ faultRate: 1, fault: { kind: 'stall', afterEvents: 0 } });

    const response = await h.post('/v1/messages', { ...params(), stream: true });
    const events = await readSse(response);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(events[0]?.event).toBe('ping');
    expect(events.at(-1)?.event).toBe('error');
    expect(new Set(names(events.slice(0, -1)))).toEqual(new Set(['ping']));
    expect(json(events.at(-1))).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted', 'client-aborted', 'client-aborted']);
    expect(await h.logLine()).toMatchObject({ status: 200, outcome: 'stream-stalled', attempts: 3 });
    expect(h.events.filter((e) => e.type === 'stream-committed')).toEqual([
      expect.objectContaining({ by: 'heartbeat' }),
    ]);
  });

  it('sends heartbeats while Claude is slow to start; the stream then completes and the SDK reads it', async () => {
    h = await startStack({ adapter, guard: { stream: { heartbeatMs: 50 } } });
    const expected = await h.directText();
    h.fake.enqueue({ kind: 'slow', firstEventDelayMs: 400 });

    const response = await h.post('/v1/messages', { ...params(), stream: true });
    const events = await readSse(response);

    expect(response.status).toBe(200);
    const start = names(events).indexOf('message_start');
    expect(start).toBeGreaterThan(0);
    expect(new Set(names(events.slice(0, start)))).toEqual(new Set(['ping']));
    expect(json(events[0])).toEqual({ type: 'ping' });
    expect(isCompleteAnthropicStream(events.slice(start))).toBe(true);
    expect(deltaText(events)).toBe(expected);

    h.fake.enqueue({ kind: 'slow', firstEventDelayMs: 400 });
    expect(await h.client.messages.stream(params()).finalText()).toBe(expected);
    expect(h.fake.requests).toHaveLength(2);
  });

  it("the caller's deadline running out before the first event is a real 504 when nothing was sent yet", async () => {
    // On a manual clock the deadline runs out once the upstream has the request, and no heartbeat comes first
    // (on real time a loaded machine could spend a 200 ms deadline before the attempt reached the fake).
    const clock = manualClock();
    h = await startStack({ adapter, guard: { clock, stream: { heartbeatMs: 2 * MANUAL_DEADLINE_MS } } });
    const s = h;
    s.fake.enqueue(LATE_FIRST_EVENT);

    const headers = { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) };
    const response = await runOutAtUpstream(s.fake, clock, () =>
      s.post('/v1/messages', { ...params(), stream: true }, { headers }),
    );

    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
    expect(await h.logLine()).toMatchObject({ status: 504, outcome: 'deadline-exceeded', attempts: 1 });
  });

  it("the caller's deadline running out before the first event, after a heartbeat, is an in-band timeout_error", async () => {
    // On a manual clock: once the upstream has the request a heartbeat commits the response (20 ms), then the
    // deadline runs out (on real time a loaded machine could spend 200 ms before the heartbeat, or the attempt).
    const clock = manualClock();
    h = await startStack({ adapter, guard: { clock, stream: { heartbeatMs: 20 } } });
    const s = h;
    s.fake.enqueue(LATE_FIRST_EVENT);

    const headers = { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) };
    const response = await runOutAtUpstream(
      s.fake,
      clock,
      () => s.post('/v1/messages', { ...params(), stream: true }, { headers }),
      20,
    );
    clock.advance(MANUAL_DEADLINE_MS);
    const events = await readSse(response);

    expect(response.status).toBe(200);
    expect(events[0]?.event).toBe('ping');
    expect(new Set(names(events.slice(0, -1)))).toEqual(new Set(['ping']));
    expect(json(events.at(-1))).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
    expect(await h.logLine()).toMatchObject({ status: 200, outcome: 'deadline-exceeded', attempts: 1 });
  });
});

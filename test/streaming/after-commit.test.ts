import { APIError } from '@anthropic-ai/sdk';
import { systemClock, type Clock } from '@claude-guard/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  MANUAL_DEADLINE_MS,
  SseReader,
  deltaText,
  json,
  manualClock,
  names,
  params,
  readSse,
  startStack,
  type Stack,
} from '../support/index.js';

let h: Stack | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

// The fake's stream: message_start, content_block_start, ping, then one content_block_delta per word.
const FIRST_FOUR = ['message_start', 'content_block_start', 'ping', 'content_block_delta'];

/**
 * Iterates `create({ stream: true })` like an end user, calling `onEvent` after each event; returns the event
 * types seen and the error thrown.
 */
async function iterateWithSdk(
  h: Stack,
  headers?: Record<string, string>,
  onEvent?: (type: string) => void,
): Promise<{ seen: string[]; error: unknown }> {
  const seen: string[] = [];
  try {
    const stream = await h.client.messages.create({ ...params(), stream: true }, headers ? { headers } : {});
    for await (const event of stream) {
      seen.push(event.type);
      onEvent?.(event.type);
    }
  } catch (error) {
    return { seen, error };
  }
  return { seen, error: undefined };
}

describe.each(ADAPTERS)('streaming via %s: failures after the commit', (adapter) => {
  it('a mid-stream stall ends with the forwarded events, then an in-band timeout_error, then the end', async () => {
    h = await startStack({ adapter, guard: { stream: { idleTimeoutMs: 150, heartbeatMs: 10_000 } } });
    h.fake.enqueue({ kind: 'stall', afterEvents: 4 });

    const response = await h.post('/v1/messages', { ...params(), stream: true });
    const events = await readSse(response);

    expect(response.status).toBe(200);
    expect(names(events)).toEqual([...FIRST_FOUR, 'error']);
    const error = json(events.at(-1));
    expect(error).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    expect(error['request_id']).toBe(response.headers.get('x-request-id'));
    await h.fake.settled();
    expect(h.fake.requests).toHaveLength(1);
    expect(h.fake.requests[0]).toMatchObject({ eventsSent: 4, outcome: 'client-aborted' });
    expect(await h.logLine()).toMatchObject({ status: 200, outcome: 'stream-stalled', attempts: 1 });
    // The commit was a success (the verdict is given there); the failure after it still counts against the breaker.
    expect(h.guard.status().breakers.find((b) => b.key === 'proxy')?.counts).toMatchObject({
      failures: 1,
      successes: 1,
    });
  });

  it('the SDK iterating that stream gets the events, then an APIError of type timeout_error', async () => {
    h = await startStack({ adapter, guard: { stream: { idleTimeoutMs: 150, heartbeatMs: 10_000 } } });
    h.fake.enqueue({ kind: 'stall', afterEvents: 4 });

    const { seen, error } = await iterateWithSdk(h);

    // The SDK skips ping.
    expect(seen).toEqual(['message_start', 'content_block_start', 'content_block_delta']);
    expect(error).toBeInstanceOf(APIError);
    const apiError = error as APIError;
    expect(apiError.status).toBeUndefined();
    expect(apiError.type).toBe('timeout_error');
    expect(apiError.error).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
  });

  it('forwards a mid-stream in-band overloaded_error and does not retry it', async () => {
    // The token delay puts the error in a later chunk than the first events: the stream has committed by then.
    // (An error in the very chunk that carries the first events is retried: nothing was forwarded yet.)
    h = await startStack({ adapter, fake: { tokenDelayMs: 50 } });
    h.fake.enqueue({ kind: 'in-band-error', afterEvents: 5, type: 'overloaded_error' }, 'ok');

    const response = await h.post('/v1/messages', { ...params(), stream: true });
    const events = await readSse(response);

    expect(response.status).toBe(200);
    expect(names(events)).toEqual([...FIRST_FOUR, 'content_block_delta', 'error']);
    expect(json(events.at(-1))).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    await h.fake.settled();
    expect(h.fake.requests).toHaveLength(1);
    expect(await h.logLine()).toMatchObject({ status: 200, outcome: 'upstream-error', attempts: 1 });
    expect(h.guard.status().breakers.find((b) => b.key === 'proxy')?.counts).toMatchObject({
      failures: 1,
      successes: 1,
    });
  });

  it('the SDK sees that mid-stream failure as an APIError of type overloaded_error', async () => {
    h = await startStack({ adapter, fake: { tokenDelayMs: 50 } });
    h.fake.enqueue({ kind: 'in-band-error', afterEvents: 5, type: 'overloaded_error' }, 'ok');

    const { seen, error } = await iterateWithSdk(h);

    expect(seen).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta']);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).status).toBeUndefined();
    expect((error as APIError).type).toBe('overloaded_error');
    expect(h.fake.requests).toHaveLength(1);
  });

  it("the caller's deadline running out mid-stream ends it with an in-band timeout_error and aborts Claude", async () => {
    // The deadline runs out on a manual clock once the first delta has reached the client (on real time, a
    // loaded machine could spend 300 ms before the first events, or before the commit).
    const clock = manualClock();
    h = await startStack({ adapter, guard: { clock }, fake: { tokenDelayMs: 50, replyWords: 200 } });

    const response = await h.post(
      '/v1/messages',
      { ...params(), stream: true },
      { headers: { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) } },
    );
    const reader = new SseReader(response.body);
    const first = await reader.until((message) => message.event === 'content_block_delta');
    clock.advance(MANUAL_DEADLINE_MS);
    const events = [...first, ...(await reader.rest())];

    expect(response.status).toBe(200);
    const list = names(events);
    expect(list.slice(0, 4)).toEqual(FIRST_FOUR);
    expect(list.at(-1)).toBe('error');
    expect(list).not.toContain('message_stop');
    expect(json(events.at(-1))).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    await h.fake.settled();
    expect(h.fake.requests).toHaveLength(1);
    expect(h.fake.requests[0]?.outcome).toBe('client-aborted');
    expect(h.fake.requests[0]?.eventsSent).toBeLessThan(200);
    expect(await h.logLine()).toMatchObject({ status: 200, outcome: 'deadline-exceeded', attempts: 1 });
    // Told once, with whose budget it was, as before the commit.
    expect(h.events.filter((event) => event.type === 'deadline-exceeded')).toEqual([
      expect.objectContaining({ route: 'proxy', source: 'caller-header', budgetMs: expect.any(Number) }),
    ]);
    // The caller's own short budget says nothing about Claude's health.
    const breaker = h.guard.status().breakers.find((b) => b.key === 'proxy');
    expect(breaker?.counts.failures).toBe(0);
  });

  it('the SDK sees the deadline as an APIError of type timeout_error after some content', async () => {
    // The deadline runs out on a manual clock once the SDK has read the first delta.
    const clock = manualClock();
    h = await startStack({ adapter, guard: { clock }, fake: { tokenDelayMs: 50, replyWords: 200 } });

    let ranOut = false;
    const { seen, error } = await iterateWithSdk(h, { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) }, (type) => {
      if (type !== 'content_block_delta' || ranOut) return;
      ranOut = true;
      clock.advance(MANUAL_DEADLINE_MS);
    });

    expect(seen.slice(0, 3)).toEqual(['message_start', 'content_block_start', 'content_block_delta']);
    expect(seen).not.toContain('message_stop');
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).type).toBe('timeout_error');
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
  });

  it('heartbeats during a mid-stream stall do not reset the idle timeout', async () => {
    h = await startStack({ adapter, guard: { stream: { idleTimeoutMs: 200, heartbeatMs: 30 } } });
    h.fake.enqueue({ kind: 'stall', afterEvents: 4 });

    const events = await readSse(await h.post('/v1/messages', { ...params(), stream: true }));

    const list = names(events);
    // A heartbeat may also fall between the first events on a loaded machine: compare the rest.
    expect(list.filter((name) => name !== 'ping')).toEqual([...FIRST_FOUR.filter((name) => name !== 'ping'), 'error']);
    // Our own pings filled the silence after the last upstream event, and the stall still ended the stream.
    const silence = list.slice(list.lastIndexOf('content_block_delta') + 1, -1);
    expect(silence.length).toBeGreaterThan(0);
    expect(new Set(silence)).toEqual(new Set(['ping']));
    expect(json(events.at(-1))).toMatchObject({ error: { type: 'timeout_error' } });
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
  });

  it('heartbeats between slow tokens keep the stream alive; the SDK reads it whole', async () => {
    h = await startStack({
      adapter,
      fake: { replyWords: 6 },
      guard: { stream: { idleTimeoutMs: 5_000, heartbeatMs: 20 } },
    });
    const expected = await h.directText();
    h.fake.enqueue({ kind: 'slow', tokenDelayMs: 80 });

    const response = await h.post('/v1/messages', { ...params(), stream: true });
    const events = await readSse(response);

    const list = names(events);
    const firstDelta = list.indexOf('content_block_delta');
    const lastDelta = list.lastIndexOf('content_block_delta');
    // More pings between the deltas than the one the fake sends before them.
    expect(list.slice(firstDelta, lastDelta).filter((name) => name === 'ping').length).toBeGreaterThan(0);
    expect(list.at(-1)).toBe('message_stop');
    expect(deltaText(events)).toBe(expected);

    h.fake.enqueue({ kind: 'slow', tokenDelayMs: 80 });
    expect(await h.client.messages.stream(params()).finalText()).toBe(expected);
  });

  it('a mid-stream connection reset ends with an in-band api_error, not a silent close', async () => {
    h = await startStack({ adapter, fake: { tokenDelayMs: 50 } });
    h.fake.enqueue({ kind: 'reset', afterEvents: 5 }, 'ok');

    const events = await readSse(await h.post('/v1/messages', { ...params(), stream: true }));

    expect(names(events)).toEqual([...FIRST_FOUR, 'content_block_delta', 'error']);
    expect(json(events.at(-1))).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    expect(h.fake.requests).toHaveLength(1);
    expect(await h.logLine()).toMatchObject({ outcome: 'upstream-unreachable', attempts: 1 });
  });

  it('a malformed event is never forwarded: the stream ends with an in-band api_error instead', async () => {
    // The malformed fault sends a content_block_delta with broken JSON, then ends the stream. Every event is
    // parsed before it is forwarded, so the client's SDK never sees unparseable JSON, only our error event.
    h = await startStack({ adapter, fake: { tokenDelayMs: 50 } });
    h.fake.enqueue({ kind: 'malformed', afterEvents: 5 }, 'ok');

    const events = await readSse(await h.post('/v1/messages', { ...params(), stream: true }));

    expect(names(events)).toEqual([...FIRST_FOUR, 'content_block_delta', 'error']);
    expect(
      events.every(
        (event) =>
          event.event === 'ping' ||
          (() => {
            try {
              JSON.parse(event.data);
              return true;
            } catch {
              return false;
            }
          })(),
      ),
    ).toBe(true);
    expect(json(events.at(-1))).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    expect(h.fake.requests).toHaveLength(1);
    expect(await h.logLine()).toMatchObject({ outcome: 'upstream-error', attempts: 1 });
  });

  it('a timer firing a little before the clock says it is due does not turn the idle timeout into stray pings', async () => {
    // Real timers and Date.now() can disagree by a millisecond; this clock makes every timer 3 ms early.
    const earlyTimers: Clock = {
      now: () => Date.now(),
      setTimeout: (callback, ms) => systemClock.setTimeout(callback, Math.max(0, ms - 3)),
      clearTimeout: (handle) => systemClock.clearTimeout(handle),
    };
    h = await startStack({
      adapter,
      guard: { clock: earlyTimers, stream: { idleTimeoutMs: 100, heartbeatMs: 10_000 } },
    });
    h.fake.enqueue({ kind: 'stall', afterEvents: 4 });

    const events = await readSse(await h.post('/v1/messages', { ...params(), stream: true }));

    expect(names(events)).toEqual([...FIRST_FOUR, 'error']);
    expect(json(events.at(-1))).toMatchObject({ error: { type: 'timeout_error' } });
  });
});

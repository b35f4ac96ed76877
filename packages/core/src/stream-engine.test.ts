import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { UpstreamAnswers } from './admission.js';
import { exponentialBackoff } from './backoff.js';
import type { ClaudeClient, MessageStreamParams } from './claude-client.js';
import { systemClock } from './clock.js';
import { Deadline } from './deadline.js';
import { GuardEvents, type GuardEvent } from './events.js';
import { FallbackChain } from './fallback-targets.js';
import type { ClaudeGuardError } from './guard-error.js';
import { LogWriter, type RequestLogRecord } from './logger.js';
import { RequestRecord } from './request-record.js';
import { RetryPolicy } from './retry-loop.js';
import { startStream, type StreamAnswers, type StreamFormat } from './stream-engine.js';
import type { StreamFinal } from './stream-final.js';

// The stream engine alone: a fake client whose `messages.create(...).asResponse()` answers a
// `Response` with a body the test writes, a real retry policy and record on fake timers, and the
// request's answers as a stub. No guard, no route, no HTTP server.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

const START = sse('message_start', {
  type: 'message_start',
  message: {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    content: [],
    model: 'm',
    usage: { input_tokens: 9, output_tokens: 1 },
  },
});
const BLOCK_START = sse('content_block_start', {
  type: 'content_block_start',
  index: 0,
  content_block: { type: 'text', text: '' },
});
const delta = (text: string) =>
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
const BLOCK_STOP = sse('content_block_stop', { type: 'content_block_stop', index: 0 });
const MESSAGE_DELTA = sse('message_delta', {
  type: 'message_delta',
  delta: { stop_reason: 'end_turn' },
  usage: { output_tokens: 3 },
});
const STOP = sse('message_stop', { type: 'message_stop' });
const PING = sse('ping', { type: 'ping' });
/** The engine's own heartbeat, as Anthropic writes it. */
const HEARTBEAT = 'event: ping\ndata: {"type": "ping"}\n\n';
const overloaded = sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });

/** One upstream exchange whose body the test writes, chunk by chunk, pulled only when read. */
interface Exchange {
  signal: AbortSignal;
  push(text: string): void;
  end(): void;
  /** Chunks the engine has pulled from the body. */
  readonly pulls: number;
  /** The engine cancelled the body (or the signal aborted it). */
  readonly cancelled: boolean;
}

function fakeUpstream() {
  const exchanges: Exchange[] = [];
  const create = vi.fn((_params: unknown, options: { signal: AbortSignal }) => {
    const queue: (string | null)[] = [];
    let wake: (() => void) | undefined;
    let pulls = 0;
    let cancelled = false;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>(
      {
        start(c) {
          controller = c;
        },
        async pull(c) {
          while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
          pulls += 1;
          const next = queue.shift()!;
          if (next === null) c.close();
          else c.enqueue(encoder.encode(next));
        },
        cancel() {
          cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    // Like fetch: the request's signal errors its body.
    options.signal.addEventListener('abort', () => {
      cancelled = true;
      try {
        controller.error(options.signal.reason);
      } catch {
        // already closed
      }
    });
    const exchange: Exchange = {
      signal: options.signal,
      push: (text) => {
        queue.push(text);
        wake?.();
      },
      end: () => {
        queue.push(null);
        wake?.();
      },
      get pulls() {
        return pulls;
      },
      get cancelled() {
        return cancelled;
      },
    };
    exchanges.push(exchange);
    const response = new Response(body, {
      headers: { 'content-type': 'text/event-stream', 'request-id': `req_${exchanges.length}` },
    });
    return { asResponse: () => Promise.resolve(response) };
  });
  const client = { messages: { create } } as unknown as ClaudeClient;
  return { client, create, exchanges };
}

const PARAMS: MessageStreamParams = {
  model: 'claude-sonnet-5',
  max_tokens: 16,
  messages: [{ role: 'user', content: 'hi' }],
};
const LIMITS = { firstEventTimeoutMs: 5_000, idleTimeoutMs: 2_000, heartbeatMs: 1_000, maxEventBytes: 1_024 };

let events: GuardEvent[];
let lines: RequestLogRecord[];
let deadlines: Deadline[];

function engine(
  options: {
    format?: StreamFormat;
    maxAttempts?: number;
    budgetMs?: number;
    limits?: Partial<typeof LIMITS>;
    onFinal?: (final: StreamFinal) => unknown;
    errors?: unknown[];
    rateLimits?: UpstreamAnswers;
    /** A fallback target on the same client, with this model. */
    fallbackModel?: string;
  } = {},
) {
  const upstream = fakeUpstream();
  const hub = new GuardEvents();
  hub.on((event) => events.push(event));
  const client = new AbortController();
  const deadline = new Deadline(systemClock, options.budgetMs ?? 60_000, 'route-default', client.signal);
  deadlines.push(deadline);
  const record = new RequestRecord(
    {
      route: 'chat',
      sdkVersion: 'test',
      now: () => Date.now(),
      log: new LogWriter({ info: (line) => lines.push(line as RequestLogRecord) }, 'object'),
      events: hub,
      secrets: [],
    },
    'cg_1',
    deadline,
  );
  const policy = new RetryPolicy({
    route: 'chat',
    maxAttempts: options.maxAttempts ?? 1,
    backoff: exponentialBackoff({ baseMs: 10, capMs: 10, random: () => 0 }),
    budget: undefined,
    breaker: undefined,
    events: hub,
    clock: systemClock,
    attemptTimeoutMs: undefined,
    countRateLimits: false,
    secrets: [],
    forwardClientErrors: false,
  });
  const fallbacks =
    options.fallbackModel === undefined
      ? undefined
      : new FallbackChain(
          'chat',
          [{ model: options.fallbackModel, client: upstream.client, breakerKey: 'fb', maxAttempts: 1, policy }],
          hub,
        );
  const answered: unknown[] = [];
  const answers: StreamAnswers = {
    responseHeaders: () => new Headers({ 'x-request-id': 'cg_1' }),
    errorResponse: (error) => {
      answered.push(error);
      const guardError = error as ClaudeGuardError;
      return Response.json(
        { type: 'error', error: { type: guardError.type, message: guardError.message } },
        { status: guardError.status },
      );
    },
    toGuardError: (error) => error as ClaudeGuardError,
  };
  const response = startStream({
    client: upstream.client,
    params: PARAMS,
    format: options.format ?? 'anthropic',
    limits: { ...LIMITS, ...options.limits },
    clock: systemClock,
    deadline,
    record,
    policy,
    secrets: [],
    answers,
    rateLimits: options.rateLimits,
    fallbacks,
    onFinal: options.onFinal,
    log: new LogWriter({ info: () => {}, error: (record) => options.errors?.push(record) }, 'object'),
  });
  return { ...upstream, response, record, answered, client, deadline };
}

/** A rate-limit seam that records what it is told, in order. */
function recordingRateLimits() {
  const told: string[] = [];
  const rateLimits: UpstreamAnswers = {
    ticket: () => {
      told.push('ticket');
      return { clientId: 'client_test', estimated: 1, debited: 1, generation: 0 };
    },
    answered: (response) => told.push(`answered ${response.headers.get('request-id')}`),
    failed: () => told.push('failed'),
    reconcile: (_ticket, usage) => told.push(`reconcile ${usage?.input_tokens} ${usage?.output_tokens}`),
  };
  return { rateLimits, told };
}

/** Lets promises and due timers run. */
const settle = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

async function readChunk(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string | null> {
  const pending = reader.read();
  await settle();
  const { done, value } = await pending;
  return done ? null : decoder.decode(value);
}

/** Reads everything left, letting timers run while it waits. */
async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>, stepMs = 0): Promise<string> {
  let text = '';
  for (;;) {
    const pending = reader.read();
    let result: ReadableStreamReadResult<Uint8Array> | undefined;
    void pending.then((r) => (result = r));
    while (!result) await settle(stepMs);
    if (result.done) return text;
    text += decoder.decode(result.value);
  }
}

beforeEach(() => {
  vi.useFakeTimers();
  events = [];
  lines = [];
  deadlines = [];
});
afterEach(async () => {
  await settle(2_000); // the drain after message_stop gives up within a second
  for (const deadline of deadlines) deadline.dispose();
  expect(vi.getTimerCount()).toBe(0);
  vi.useRealTimers();
});

describe('stream engine', () => {
  it('commits on the first event: a 200 SSE response with the request headers and the upstream id', async () => {
    const s = engine();
    await settle();
    s.exchanges[0]!.push(START);
    await settle();
    const response = await s.response;
    expect(response.status).toBe(200);
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      'x-request-id': 'cg_1',
      'request-id': 'req_1',
      'x-upstream-request-id': 'req_1',
    });
    expect(events.filter((e) => e.type === 'stream-committed')).toEqual([
      { type: 'stream-committed', route: 'chat', requestId: 'cg_1', attempt: 0, by: 'first-event' },
    ]);
    const reader = response.body!.getReader();
    expect(await readChunk(reader)).toBe(START);
    await reader.cancel();
  });

  it('forwards events until message_stop, then completes: outcome ok, usage and timings recorded', async () => {
    const s = engine();
    await settle();
    const exchange = s.exchanges[0]!;
    await settle(3);
    exchange.push(START + BLOCK_START + PING);
    await settle();
    const response = await s.response;
    s.record.end(response.status);
    const reader = response.body!.getReader();
    for (const chunk of [delta('Hel'), delta('lo'), BLOCK_STOP, MESSAGE_DELTA, STOP]) exchange.push(chunk);
    exchange.end();
    const text = await readAll(reader);
    expect(text).toBe(START + BLOCK_START + PING + delta('Hel') + delta('lo') + BLOCK_STOP + MESSAGE_DELTA + STOP);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      status: 200,
      outcome: 'ok',
      stream: true,
      model: 'claude-sonnet-5',
      attempts: 1,
      inputTokens: 9,
      outputTokens: 3,
      upstreamRequestId: 'req_1',
      firstByteMs: 0,
      commitMs: 3,
    });
  });

  it('text format: text deltas, then done with the stop reason and usage', async () => {
    const s = engine({ format: 'text' });
    await settle();
    const exchange = s.exchanges[0]!;
    exchange.push(START + BLOCK_START + delta('Hi') + BLOCK_STOP + MESSAGE_DELTA + STOP);
    exchange.end();
    await settle();
    const text = await readAll((await s.response).body!.getReader());
    expect(text).toBe(
      'event: text\ndata: "Hi"\n\n' +
        'event: done\ndata: {"stop_reason":"end_turn","usage":{"input_tokens":9,"output_tokens":3}}\n\n',
    );
  });

  it('commits by heartbeat when the first event is slow, then streams what comes', async () => {
    const s = engine();
    await settle(999);
    let committed = false;
    void s.response.then(() => (committed = true));
    await settle();
    expect(committed).toBe(false);
    await settle(1);
    const response = await s.response;
    expect(response.status).toBe(200);
    expect(events.filter((e) => e.type === 'stream-committed')).toMatchObject([{ by: 'heartbeat', attempt: 0 }]);
    const reader = response.body!.getReader();
    expect(await readChunk(reader)).toBe(HEARTBEAT);
    s.exchanges[0]!.push(START);
    expect(await readChunk(reader)).toBe(START);
    await reader.cancel();
  });

  it('an in-band error before the commit is a failed attempt: retried, and never sent', async () => {
    const s = engine({ maxAttempts: 2 });
    await settle();
    s.exchanges[0]!.push(overloaded);
    await settle(10);
    expect(s.exchanges).toHaveLength(2);
    expect(s.exchanges[0]!.cancelled).toBe(true);
    s.exchanges[1]!.push(START);
    await settle();
    const response = await s.response;
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    expect(await readChunk(reader)).toBe(START);
    await reader.cancel();
  });

  it('an in-band error before the commit, with no attempt left, is the error response with its status', async () => {
    const s = engine({ maxAttempts: 1 });
    await settle();
    s.exchanges[0]!.push(overloaded);
    await settle();
    const response = await s.response;
    expect(response.status).toBe(529);
    expect(await response.json()).toMatchObject({ error: { type: 'overloaded_error' } });
    expect(s.answered).toHaveLength(1);
    s.record.end(response.status);
    expect(lines[0]).toMatchObject({ status: 529, attempts: 1, stream: true });
    expect(s.record.failure).toMatchObject({
      kind: 'in-band',
      type: 'overloaded_error',
      upstreamMessage: 'Overloaded',
    });
  });

  it('an in-band error after the commit ends the stream with one error event, in our words', async () => {
    const s = engine();
    await settle();
    const exchange = s.exchanges[0]!;
    exchange.push(START);
    await settle();
    const response = await s.response;
    s.record.end(response.status);
    exchange.push(delta('a'));
    exchange.push(overloaded);
    const text = await readAll(response.body!.getReader());
    expect(text).toBe(
      START +
        delta('a') +
        'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"The Claude API failed mid-stream with overloaded_error"},"request_id":"cg_1"}\n\n',
    );
    expect(exchange.cancelled).toBe(true);
    expect(lines[0]).toMatchObject({ status: 200, outcome: 'upstream-error' });
  });

  it('a stall after the commit: heartbeats, then an in-band timeout_error at the idle timeout, and the upstream aborted', async () => {
    const s = engine({ limits: { heartbeatMs: 800, idleTimeoutMs: 2_000 } });
    await settle();
    const exchange = s.exchanges[0]!;
    exchange.push(START);
    await settle();
    const response = await s.response;
    s.record.end(response.status);
    const text = await readAll(response.body!.getReader(), 100);
    expect(text).toBe(
      START +
        HEARTBEAT +
        HEARTBEAT +
        'event: error\ndata: {"type":"error","error":{"type":"timeout_error","message":"Claude\'s stream stalled: no event for 2000 ms"},"request_id":"cg_1"}\n\n',
    );
    expect(exchange.signal.aborted).toBe(true);
    expect(lines[0]).toMatchObject({ outcome: 'stream-stalled' });
  });

  it('a client that cancels the stream aborts the upstream at once: 499, client-aborted', async () => {
    const s = engine();
    await settle();
    const exchange = s.exchanges[0]!;
    exchange.push(START);
    await settle();
    const response = await s.response;
    s.record.end(response.status);
    const reader = response.body!.getReader();
    expect(await readChunk(reader)).toBe(START);
    await reader.cancel();
    await settle();
    expect(exchange.signal.aborted).toBe(true);
    expect(exchange.cancelled).toBe(true);
    expect(events.filter((e) => e.type === 'client-aborted')).toEqual([
      { type: 'client-aborted', route: 'chat', requestId: 'cg_1', outputTokens: 1 },
    ]);
    expect(lines[0]).toMatchObject({ status: 499, outcome: 'client-aborted' });
  });

  it('reads the upstream only as fast as the client reads: its buffers stay bounded', async () => {
    const s = engine();
    await settle();
    const exchange = s.exchanges[0]!;
    exchange.push(START);
    for (let i = 0; i < 500; i++) exchange.push(delta(`d${i}`));
    await settle();
    const response = await s.response;
    const reader = response.body!.getReader();
    expect(await readChunk(reader)).toBe(START);
    await settle(100);
    // One chunk parsed to commit, one read for the client's chunk: nothing more is pulled.
    const pulled = exchange.pulls;
    expect(pulled).toBeLessThanOrEqual(2);
    await settle(500);
    expect(exchange.pulls).toBe(pulled);
    expect(await readChunk(reader)).toBe(delta('d0'));
    expect(exchange.pulls).toBeLessThanOrEqual(pulled + 1);
    await reader.cancel();
  });

  it('an event larger than the limit before the commit is the upstream failing: a 502 in our words', async () => {
    const s = engine({ limits: { maxEventBytes: 64 } });
    await settle();
    s.exchanges[0]!.push(sse('message_start', { type: 'message_start', padding: 'x'.repeat(200) }));
    await settle();
    const response = await s.response;
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({
      error: {
        type: 'api_error',
        message: "The Claude API sent an event larger than 64 bytes (route 'chat', 1 attempt)",
      },
    });
  });

  it("tells the rate-limit tracker of each attempt: the ticket, the answer, then the stream's usage at message_stop", async () => {
    const { rateLimits, told } = recordingRateLimits();
    const s = engine({ rateLimits });
    await settle();
    const exchange = s.exchanges[0]!;
    exchange.push(START);
    await settle();
    const response = await s.response;
    expect(told).toEqual(['ticket', 'answered req_1']);
    for (const chunk of [MESSAGE_DELTA, STOP]) exchange.push(chunk);
    exchange.end();
    await readAll(response.body!.getReader());
    expect(told).toEqual(['ticket', 'answered req_1', 'reconcile 9 3']);
  });

  it("tells it nothing of a fallback target's attempt, even one on the same client", async () => {
    const { rateLimits, told } = recordingRateLimits();
    const s = engine({ rateLimits, fallbackModel: 'claude-haiku-5' });
    await settle();
    s.exchanges[0]!.push(overloaded);
    await settle();
    expect(s.exchanges).toHaveLength(2);
    const target = s.exchanges[1]!;
    target.push(START);
    await settle();
    const response = await s.response;
    expect(response.status).toBe(200);
    for (const chunk of [MESSAGE_DELTA, STOP]) target.push(chunk);
    target.end();
    await readAll(response.body!.getReader());
    expect(s.create.mock.calls[1]![0]).toMatchObject({ model: 'claude-haiku-5' });
    expect(told).toEqual(['ticket', 'answered req_1']);
  });

  it('a first event that never comes is a stall at the first-event timeout', async () => {
    const s = engine({ limits: { firstEventTimeoutMs: 300, heartbeatMs: 10_000 } });
    await settle(300);
    const response = await s.response;
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ error: { type: 'timeout_error' } });
    expect(s.exchanges[0]!.signal.aborted).toBe(true);
  });

  describe('onFinal', () => {
    it('is told the assembled Message once the stream completed, after the last byte was read', async () => {
      const finals: StreamFinal[] = [];
      const s = engine({ onFinal: (final) => finals.push(final) });
      await settle();
      const exchange = s.exchanges[0]!;
      exchange.push(START + BLOCK_START + delta('Hel') + delta('lo') + BLOCK_STOP + MESSAGE_DELTA);
      await settle();
      const response = await s.response;
      s.record.end(response.status);
      const reader = response.body!.getReader();
      await readChunk(reader);
      expect(finals).toEqual([]);
      exchange.push(STOP);
      exchange.end();
      await readAll(reader);
      expect(finals).toEqual([
        {
          type: 'message',
          message: {
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            content: [{ type: 'text', text: 'Hello' }],
            model: 'm',
            stop_reason: 'end_turn',
            usage: { input_tokens: 9, output_tokens: 3 },
          },
          requestId: 'cg_1',
          upstreamRequestId: 'req_1',
        },
      ]);
    });

    it('is told of a client that left, with what had arrived and its output tokens so far', async () => {
      const finals: StreamFinal[] = [];
      const s = engine({ onFinal: (final) => finals.push(final) });
      await settle();
      const exchange = s.exchanges[0]!;
      exchange.push(START + BLOCK_START + delta('Hel'));
      await settle();
      const response = await s.response;
      s.record.end(response.status);
      const reader = response.body!.getReader();
      // What the client was sent: the events the engine has not forwarded yet are not in the message.
      for (let i = 0; i < 3; i++) await readChunk(reader);
      await reader.cancel();
      await settle();
      expect(finals).toHaveLength(1);
      expect(finals[0]).toMatchObject({
        type: 'aborted',
        message: { content: [{ type: 'text', text: 'Hel' }], usage: { output_tokens: 1 } },
      });
    });

    it('is told of a failure after the commit: what the client was told, the failure behind it, what arrived', async () => {
      const finals: StreamFinal[] = [];
      const s = engine({ onFinal: (final) => finals.push(final) });
      await settle();
      const exchange = s.exchanges[0]!;
      exchange.push(START + BLOCK_START);
      await settle();
      const response = await s.response;
      s.record.end(response.status);
      exchange.push(delta('a') + overloaded);
      await readAll(response.body!.getReader());
      expect(finals).toHaveLength(1);
      const final = finals[0]!;
      expect(final.type).toBe('error');
      if (final.type !== 'error') return;
      expect(final.error).toMatchObject({
        type: 'overloaded_error',
        outcome: 'upstream-error',
        message: 'The Claude API failed mid-stream with overloaded_error',
      });
      expect(final.failure).toMatchObject({ kind: 'in-band', type: 'overloaded_error', upstreamMessage: 'Overloaded' });
      expect(final.message?.content).toEqual([{ type: 'text', text: 'a' }]);
    });

    it('is told of a failure before the commit, with no message', async () => {
      const finals: StreamFinal[] = [];
      const s = engine({ maxAttempts: 1, onFinal: (final) => finals.push(final) });
      await settle();
      s.exchanges[0]!.push(overloaded);
      await settle();
      expect((await s.response).status).toBe(529);
      expect(finals).toEqual([
        expect.objectContaining({
          type: 'error',
          error: expect.objectContaining({ status: 529, type: 'overloaded_error' }) as unknown,
          failure: expect.objectContaining({ kind: 'in-band' }) as unknown,
          message: undefined,
        }),
      ]);
    });

    it('never lets what onFinal throws or rejects with reach the stream: it is logged', async () => {
      for (const onFinal of [
        () => {
          throw new Error('save failed');
        },
        () => Promise.reject(new Error('save failed')),
      ]) {
        const errors: unknown[] = [];
        const s = engine({ onFinal, errors });
        await settle();
        const exchange = s.exchanges[0]!;
        exchange.push(START + STOP);
        exchange.end();
        await settle();
        const response = await s.response;
        s.record.end(response.status);
        expect(await readAll(response.body!.getReader())).toBe(START + STOP);
        await settle();
        expect(errors).toEqual([
          {
            route: 'chat',
            requestId: 'cg_1',
            err: expect.objectContaining({ type: 'Error', message: 'save failed' }) as unknown,
          },
        ]);
        expect(lines.at(-1)).toMatchObject({ status: 200, outcome: 'ok' });
      }
    });
  });
});

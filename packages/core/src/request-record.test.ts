import { describe, expect, it, vi } from 'vitest';
import type { AttemptFailure } from './classify.js';
import { Deadline } from './deadline.js';
import { GuardEvents, type GuardEvent } from './events.js';
import { LogWriter, type LogLevel, type RequestLogRecord } from './logger.js';
import type { RequestSpan } from './instrumentation.js';
import { RequestRecord, type RecordSink } from './request-record.js';

interface Line {
  level: LogLevel;
  record: RequestLogRecord;
  message: string | undefined;
}

function recordAt(time: { now: number }, options: { deadline?: Deadline; secrets?: string[]; listen?: boolean } = {}) {
  const lines: Line[] = [];
  const events: GuardEvent[] = [];
  const hub = new GuardEvents();
  if (options.listen !== false) hub.on((event) => events.push(event));
  const sink: RecordSink = {
    route: 'chat',
    sdkVersion: '1.14.0',
    now: () => time.now,
    log: new LogWriter(
      {
        info: (record, message) => lines.push({ level: 'info', record: record as RequestLogRecord, message }),
        warn: (record, message) => lines.push({ level: 'warn', record: record as RequestLogRecord, message }),
        error: (record, message) => lines.push({ level: 'error', record: record as RequestLogRecord, message }),
      },
      'object',
    ),
    events: hub,
    secrets: options.secrets ?? [],
  };
  const record = new RequestRecord(sink, 'cg_1', options.deadline);
  return { record, lines, events };
}

function failure(fields: Partial<AttemptFailure>): AttemptFailure {
  return {
    kind: 'http',
    status: 500,
    type: 'api_error',
    transient: true,
    breaker: 'failure',
    retryAfterMs: undefined,
    upstreamRequestId: undefined,
    upstreamMessage: undefined,
    errorCode: undefined,
    error: undefined,
    ...fields,
  };
}

/** A clock whose timers never fire: deadlines here are ended by the record, not by time. */
function stillClock(time: { now: number }) {
  let timers = 0;
  return {
    clock: {
      now: () => time.now,
      setTimeout: () => {
        timers += 1;
        return {};
      },
      clearTimeout: () => {
        timers -= 1;
      },
    },
    pending: () => timers,
  };
}

describe('RequestRecord', () => {
  it('writes its line and emits request-end exactly once, with the first status, and its duration', () => {
    const time = { now: 100 };
    const { record, lines, events } = recordAt(time);
    record.attemptStarted();
    time.now = 130;
    record.end(200);
    record.end(500);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toBe('claude-guard request');
    expect(events.filter((e) => e.type === 'request-end')).toEqual([{ type: 'request-end', ...lines[0]!.record }]);
    expect(record.status).toBe(200);
    expect(record.outcome).toBe('ok');
    expect(record.durationMs).toBe(30);
    expect(lines[0]!.record).toEqual({
      route: 'chat',
      requestId: 'cg_1',
      upstreamRequestId: undefined,
      status: 200,
      outcome: 'ok',
      attempts: 1,
      durationMs: 30,
      model: undefined,
      stream: false,
      outputTokens: undefined,
      inputTokens: undefined,
      cacheReadInputTokens: undefined,
      cacheCreationInputTokens: undefined,
      firstByteMs: undefined,
      commitMs: undefined,
      sdkVersion: '1.14.0',
    });
  });

  it.each<[string, { outcome?: string; status: number; failed?: boolean }, LogLevel]>([
    ['a success', { status: 200 }, 'info'],
    ['a client that left', { outcome: 'client-aborted', status: 499 }, 'info'],
    ['a request the guard refused itself', { outcome: 'bad-request', status: 400 }, 'info'],
    ['a 4xx from the upstream', { outcome: 'bad-request', status: 400, failed: true }, 'warn'],
    ['an upstream failure', { outcome: 'upstream-error', status: 529, failed: true }, 'warn'],
    ['an unreachable upstream', { outcome: 'upstream-unreachable', status: 502, failed: true }, 'warn'],
    ['a stall', { outcome: 'stream-stalled', status: 200, failed: true }, 'warn'],
    ['an attempt timeout', { outcome: 'attempt-timeout', status: 504, failed: true }, 'warn'],
    ['a deadline', { outcome: 'deadline-exceeded', status: 504 }, 'warn'],
    ['a breaker refusal', { outcome: 'breaker-open', status: 503 }, 'warn'],
    ['a spent retry budget', { outcome: 'retry-budget-exhausted', status: 529, failed: true }, 'warn'],
    ['a fallback', { outcome: 'fallback', status: 200, failed: true }, 'warn'],
    ['an internal error', { outcome: 'internal-error', status: 500 }, 'error'],
    ["a handler's own 404", { status: 404 }, 'info'],
    ["a handler's own 500", { status: 500 }, 'warn'],
  ])('writes %s at %s', (_what, end, level) => {
    const { record, lines } = recordAt({ now: 0 });
    if (end.failed) record.failed(failure({}));
    if (end.outcome) record.setOutcome(end.outcome);
    record.end(end.status);
    expect(lines.map((line) => line.level)).toEqual([level]);
  });

  it('waits for every open stream before it ends', () => {
    const time = { now: 0 };
    const { record, lines } = recordAt(time);
    record.streamOpened();
    record.streamOpened();
    record.end(200);
    expect(lines).toHaveLength(0);
    expect(record.ended).toBe(false);
    record.streamClosed();
    expect(lines).toHaveLength(0);
    record.streamClosed();
    expect(lines).toHaveLength(1);
    expect(record.stream).toBe(true);
  });

  it('counts the upstream attempts it is told of', () => {
    const { record } = recordAt({ now: 0 });
    record.attemptStarted();
    record.attemptStarted();
    expect(record.attempts).toBe(2);
  });

  it('keeps the last usage reported per count, and ignores what is not a count', () => {
    const { record } = recordAt({ now: 0 });
    record.recordUsage({ input_tokens: 11, output_tokens: 1, cache_read_input_tokens: 4 });
    record.recordUsage({ output_tokens: 6, input_tokens: -3, cache_creation_input_tokens: 'x' });
    record.recordUsage(null);
    expect(record.usage).toEqual({
      inputTokens: 11,
      outputTokens: 6,
      cacheReadInputTokens: 4,
      cacheCreationInputTokens: undefined,
    });
  });

  it('times the first upstream byte and the commit once each, and puts them in the line', () => {
    const time = { now: 10 };
    const { record, lines, events } = recordAt(time);
    time.now = 25;
    record.upstreamAnswered('req_1');
    time.now = 40;
    record.upstreamAnswered('req_2');
    record.committed('first-event', 0);
    time.now = 50;
    record.committed('heartbeat', 1);
    expect(record.timings).toMatchObject({ startedAt: 10, firstUpstreamByteAt: 25, committedAt: 40 });
    expect(record.upstreamRequestId).toBe('req_2');
    record.recordUsage({
      input_tokens: 3,
      output_tokens: 2,
      cache_read_input_tokens: 1,
      cache_creation_input_tokens: 0,
    });
    record.end(200);
    expect(lines[0]!.record).toMatchObject({
      upstreamRequestId: 'req_2',
      firstByteMs: 15,
      commitMs: 30,
      durationMs: 40,
      inputTokens: 3,
      outputTokens: 2,
      cacheReadInputTokens: 1,
      cacheCreationInputTokens: 0,
    });
    expect(events.filter((e) => e.type === 'stream-committed')).toEqual([
      { type: 'stream-committed', route: 'chat', requestId: 'cg_1', attempt: 0, by: 'first-event' },
      { type: 'stream-committed', route: 'chat', requestId: 'cg_1', attempt: 1, by: 'heartbeat' },
    ]);
  });

  it('keeps a known upstream id when an answer or a failure has none, but the final answer replaces it', () => {
    const { record } = recordAt({ now: 0 });
    record.upstreamIdentified('req_1');
    record.upstreamIdentified(undefined);
    record.upstreamAnswered(undefined);
    expect(record.upstreamRequestId).toBe('req_1');
    record.answeredWith(undefined);
    expect(record.upstreamRequestId).toBeUndefined();
  });

  it('records the model called, a stream, and the model a fallback answered with', () => {
    const { record } = recordAt({ now: 0 });
    record.called('claude-sonnet-5', false);
    expect([record.model, record.stream]).toEqual(['claude-sonnet-5', false]);
    record.called('claude-sonnet-5', true);
    record.answeredBy('claude-haiku-4-5');
    expect([record.model, record.stream]).toEqual(['claude-haiku-4-5', true]);
  });

  it('keeps the failure classified, the upstream message redacted, and the error code', () => {
    const key = 'sk-ant-api03-secret-key-0123456789';
    const { record } = recordAt({ now: 0 }, { secrets: [key] });
    record.failed(
      failure({
        kind: 'http',
        status: 400,
        type: 'invalid_request_error',
        upstreamMessage: `bad key ${key}`,
        errorCode: 'x_y',
      }),
    );
    expect(record.failure).toEqual({
      kind: 'http',
      type: 'invalid_request_error',
      status: 400,
      upstreamMessage: 'bad key [redacted]',
      errorCode: 'x_y',
    });
  });

  it("puts the failure's redacted upstream message and error code in the line and request-end", () => {
    const key = 'sk-ant-api03-secret-key-0123456789';
    const { record, lines, events } = recordAt({ now: 0 }, { secrets: [key] });
    record.failed(failure({ status: 429, type: 'rate_limit_error', upstreamMessage: `spent ${key}`, errorCode: 'c' }));
    record.end(429);
    expect(lines[0]!.record).toMatchObject({ upstreamMessage: 'spent [redacted]', errorCode: 'c' });
    expect(events.at(-1)).toMatchObject({ type: 'request-end', upstreamMessage: 'spent [redacted]', errorCode: 'c' });
    expect(JSON.stringify([lines, events])).not.toContain(key);
  });

  it('freezes outcome and failure once written', () => {
    const { record } = recordAt({ now: 0 });
    record.defaultOutcome('upstream-error');
    record.defaultOutcome('ok');
    expect(record.outcome).toBe('upstream-error');
    record.end(502);
    record.setOutcome('ok');
    record.failed(failure({}));
    expect(record.outcome).toBe('upstream-error');
    expect(record.failure).toBeUndefined();
  });

  it('releases the deadline when it ends, and a client gone by then makes the line 499 client-aborted', () => {
    const time = { now: 0 };
    const timers = stillClock(time);
    const client = new AbortController();
    const deadline = new Deadline(timers.clock, 1_000, 'route-default', client.signal);
    const { record, lines } = recordAt(time, { deadline });
    expect(deadline.signal.aborted).toBe(false); // something waits for it: its timer is armed
    expect(timers.pending()).toBe(1);
    record.streamOpened();
    record.end(200);
    client.abort();
    record.streamClosed();
    expect(timers.pending()).toBe(0);
    expect(lines[0]!.record).toMatchObject({ status: 499, outcome: 'client-aborted' });
    expect(record.status).toBe(499);
  });

  it('emits client-aborted with the output tokens so far', () => {
    const { record, events } = recordAt({ now: 0 });
    record.recordUsage({ output_tokens: 4 });
    record.clientAborted();
    expect(record.outcome).toBe('client-aborted');
    expect(events).toEqual([
      { type: 'request-start', route: 'chat', requestId: 'cg_1' },
      { type: 'client-aborted', route: 'chat', requestId: 'cg_1', outputTokens: 4 },
    ]);
  });

  it('builds no line when nobody listens and there is no logger', () => {
    const time = { now: 0 };
    const hub = new GuardEvents();
    const sink: RecordSink = {
      route: 'r',
      sdkVersion: 'v',
      now: () => time.now,
      log: undefined,
      events: hub,
      secrets: [],
    };
    const emit = vi.spyOn(hub, 'emit');
    const record = new RequestRecord(sink, 'id', undefined);
    record.committed('first-event', 0);
    record.clientAborted();
    record.end(200);
    expect(emit).not.toHaveBeenCalled();
    expect(record.ended).toBe(true);
  });
});

describe('RequestRecord with a span (the guard has instrumentation)', () => {
  /** A span that writes down every call the record makes on it. */
  function tracingSpan() {
    const calls: unknown[][] = [];
    const span: RequestSpan = {
      startAttempt: (info) => {
        calls.push(['startAttempt', info]);
        return {
          run: (fn) => fn(),
          answer: (answer) => calls.push(['answer', info.attempt, answer]),
          end: (failure) => calls.push(['end', info.attempt, failure]),
        };
      },
      event: (event) => calls.push(['event', event.type]),
      end: (line) => calls.push(['request-end', line.status, line.firstEventMs]),
    };
    return { span, calls };
  }

  function quietSink(time: { now: number }): RecordSink {
    return {
      route: 'chat',
      sdkVersion: '1.14.0',
      now: () => time.now,
      log: undefined,
      events: new GuardEvents(),
      secrets: [],
    };
  }

  it('sends every event to the span, starts attempt spans with the call, and ends the span once with the line', () => {
    const time = { now: 100 };
    const { span, calls } = tracingSpan();
    const record = new RequestRecord(quietSink(time), 'cg_1', undefined, span);
    expect(record.observed).toBe(true);
    record.called('claude-sonnet-5', true, 64);
    record.attemptStarted();
    const attempt = record.startAttemptSpan(0);
    record.upstreamAnswered('req_1', 200);
    time.now = 130;
    record.firstEvent();
    record.committed('first-event', 0);
    record.messageAnswered({ id: 'msg_1', model: 'claude-sonnet-5', stop_reason: null, usage: { input_tokens: 3 } });
    record.streamStalled(0, 'idle', 500);
    attempt?.end({ kind: 'stream-stalled', errorType: 'api_error', status: undefined });
    attempt?.end(); // once only
    record.end(200);
    record.end(500);
    expect(calls).toEqual([
      ['event', 'request-start'],
      ['startAttempt', { attempt: 0, model: 'claude-sonnet-5', maxTokens: 64, stream: true }],
      ['answer', 0, { status: 200 }],
      ['event', 'stream-committed'],
      [
        'answer',
        0,
        { responseId: 'msg_1', responseModel: 'claude-sonnet-5', stopReason: undefined, usage: { input_tokens: 3 } },
      ],
      ['event', 'stream-stalled'],
      ['end', 0, { kind: 'stream-stalled', errorType: 'api_error', status: undefined }],
      ['request-end', 200, 30],
    ]);
  });

  it('builds no attempt span, and emits nothing, without instrumentation and listeners', () => {
    const record = new RequestRecord(quietSink({ now: 0 }), 'cg_1', undefined);
    expect(record.observed).toBe(false);
    expect(record.startAttemptSpan(0)).toBeUndefined();
    expect(record.attemptSpan).toBeUndefined();
  });

  it('keeps a throwing span away from the request', () => {
    const broken: RequestSpan = {
      startAttempt: () => {
        throw new Error('broken');
      },
      event: () => {
        throw new Error('broken');
      },
      end: () => {
        throw new Error('broken');
      },
    };
    const record = new RequestRecord(quietSink({ now: 0 }), 'cg_1', undefined, broken);
    expect(record.startAttemptSpan(0)).toBeUndefined();
    expect(() => record.committed('heartbeat', 0)).not.toThrow();
    expect(() => record.end(200)).not.toThrow();
    expect(record.ended).toBe(true);
  });

  it('writes firstEventMs into the line: from the start to the first upstream data event', () => {
    const time = { now: 0 };
    const { record, lines } = recordAt(time);
    time.now = 40;
    record.committed('heartbeat', 0);
    time.now = 75;
    record.firstEvent();
    time.now = 90;
    record.firstEvent(); // the first one counts
    record.end(200);
    expect(lines[0]!.record).toMatchObject({ commitMs: 40, firstEventMs: 75 });
  });
});

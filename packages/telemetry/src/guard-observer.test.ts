import { errorTypeForStatus, type GuardEvent, type RequestLogRecord } from '@claude-guard/core';
import { describe, expect, it } from 'vitest';
import { GuardEventInterpreter } from './guard-observer.js';
import type { MetricsSink, RequestMeasurement } from './metrics-sink.js';

type Call = [keyof MetricsSink, ...unknown[]];

function recordingSink() {
  const calls: Call[] = [];
  const ended: RequestMeasurement[] = [];
  const record =
    (name: keyof MetricsSink) =>
    (...args: unknown[]) => {
      calls.push([name, ...args]);
    };
  const sink: MetricsSink = {
    requestStarted: record('requestStarted'),
    requestEnded: (measurement) => {
      ended.push(measurement);
      calls.push(['requestEnded', measurement.route]);
    },
    requestAbandoned: record('requestAbandoned'),
    attemptsMade: record('attemptsMade'),
    retried: record('retried'),
    retryBudgetRejected: record('retryBudgetRejected'),
    breakerTransitioned: record('breakerTransitioned'),
    breakerRejected: record('breakerRejected'),
    streamStalled: record('streamStalled'),
    deadlineExceeded: record('deadlineExceeded'),
    admissionShed: record('admissionShed'),
    queueWaited: record('queueWaited'),
  };
  const of = (name: keyof MetricsSink) => calls.filter(([called]) => called === name).map(([, ...args]) => args);
  return { sink, calls, ended, of };
}

const ROUTE = 'chat';

function end(requestId: string, fields: Partial<RequestLogRecord> & Record<string, unknown> = {}): GuardEvent {
  return {
    type: 'request-end',
    route: ROUTE,
    requestId,
    upstreamRequestId: undefined,
    status: 200,
    outcome: 'ok',
    attempts: 1,
    durationMs: 1500,
    model: 'claude-sonnet-5',
    stream: false,
    outputTokens: 6,
    sdkVersion: '1.14.0',
    ...fields,
  } as GuardEvent;
}

const attempt = (requestId: string, n = 0): GuardEvent => ({
  type: 'attempt',
  route: ROUTE,
  requestId,
  attempt: n,
  timeoutMs: 1000,
});
// A retry as an older core told it, without its reason: the interpreter derives it from the failure before.
const olderRetry = (requestId: string, n: number, delayMs: number): GuardEvent =>
  ({ type: 'retry', route: ROUTE, requestId, attempt: n, delayMs }) as unknown as GuardEvent;
const failed = (requestId: string, kind: string, status?: number, n = 0): GuardEvent => ({
  type: 'attempt-failed',
  route: ROUTE,
  requestId,
  attempt: n,
  kind,
  status,
  transient: true,
  upstreamMessage: undefined,
  errorType: status === undefined ? 'api_error' : errorTypeForStatus(status),
  errorCode: undefined,
});

describe('GuardEventInterpreter', () => {
  it('counts a request in flight from its first event to its end, with its measurements', () => {
    const { sink, of, ended } = recordingSink();
    const interpreter = new GuardEventInterpreter(sink);
    interpreter.handle(attempt('r1'));
    expect(of('requestStarted')).toEqual([[ROUTE]]);
    expect(interpreter.tracked).toBe(1);
    interpreter.handle(end('r1'));
    expect(interpreter.tracked).toBe(0);
    expect(of('attemptsMade')).toEqual([[ROUTE, 1]]);
    expect(ended).toEqual([
      {
        route: ROUTE,
        model: 'claude-sonnet-5',
        outcome: 'ok',
        status: 200,
        statusClass: '2xx',
        durationSeconds: 1.5,
        stream: false,
        timeToFirstEventSeconds: undefined,
        tokens: { input: undefined, output: 6, cacheRead: undefined, cacheWrite: undefined },
        clientDisconnected: false,
        wasInFlight: true,
      },
    ]);
  });

  it('counts admission sheds by a bounded reason and queue waits in seconds', () => {
    const { sink, of } = recordingSink();
    const interpreter = new GuardEventInterpreter(sink);
    const shed = { type: 'admission-shed', route: ROUTE, queue: ROUTE, requestId: 'r1', waitedMs: 0 } as const;
    interpreter.handle({ ...shed, reason: 'queue-full' });
    interpreter.handle({ ...shed, reason: 'made-up' } as unknown as GuardEvent);
    interpreter.handle({ type: 'admission-granted', route: ROUTE, queue: ROUTE, requestId: 'r2', waitedMs: 250 });
    expect(of('admissionShed')).toEqual([
      [ROUTE, 'queue-full'],
      [ROUTE, 'other'],
    ]);
    expect(of('queueWaited')).toEqual([[ROUTE, 0.25]]);
  });

  it('ends a request it never saw start without touching the in-flight gauge', () => {
    const { sink, ended, of } = recordingSink();
    new GuardEventInterpreter(sink).handle(
      end('r1', { status: 400, outcome: 'bad-request', attempts: 0, model: undefined }),
    );
    expect(of('requestStarted')).toEqual([]);
    expect(of('attemptsMade')).toEqual([]);
    expect(ended[0]).toMatchObject({ wasInFlight: false, model: 'none', statusClass: '4xx', outcome: 'bad-request' });
  });

  it('gives each retry the reason of the failure before it', () => {
    const { sink, of } = recordingSink();
    const interpreter = new GuardEventInterpreter(sink);
    interpreter.handle(attempt('r1'));
    interpreter.handle(failed('r1', 'http', 529));
    interpreter.handle(olderRetry('r1', 1, 10));
    interpreter.handle(failed('r1', 'connection', undefined, 1));
    interpreter.handle(olderRetry('r1', 2, 20));
    // A newer core names the reason itself.
    interpreter.handle({
      type: 'retry',
      route: ROUTE,
      requestId: 'r1',
      attempt: 3,
      delayMs: 20,
      reason: 'rate_limit_error',
    });
    expect(of('retried')).toEqual([
      [ROUTE, 'overloaded_error'],
      [ROUTE, 'connection'],
      [ROUTE, 'rate_limit_error'],
    ]);
  });

  it('counts stalls once: failed attempts before the answer, and a stall after it from the outcome', () => {
    const { sink, of } = recordingSink();
    const interpreter = new GuardEventInterpreter(sink);
    // Stalled before its first event, retried, then stalled after the answer began.
    interpreter.handle(attempt('a'));
    interpreter.handle(failed('a', 'stream-stalled'));
    interpreter.handle(olderRetry('a', 1, 1));
    interpreter.handle({ type: 'stream-committed', route: ROUTE, requestId: 'a', attempt: 1, by: 'first-event' });
    interpreter.handle(end('a', { stream: true, status: 200, outcome: 'stream-stalled', attempts: 2 }));
    expect(of('streamStalled')).toHaveLength(2);
    // Every attempt stalled before its first event: the give-up ends it, no extra stall.
    interpreter.handle(attempt('b'));
    interpreter.handle(failed('b', 'stream-stalled'));
    interpreter.handle({ type: 'give-up', route: ROUTE, requestId: 'b', attempts: 1, reason: 'attempts-exhausted' });
    interpreter.handle(end('b', { stream: true, status: 504, outcome: 'stream-stalled' }));
    expect(of('streamStalled')).toHaveLength(3);
  });

  it('takes stalls from stream-stalled events once a core sends them', () => {
    const { sink, of } = recordingSink();
    const interpreter = new GuardEventInterpreter(sink);
    interpreter.handle({
      type: 'stream-stalled',
      route: ROUTE,
      requestId: 'a',
      attempt: 0,
      phase: 'idle',
    } as unknown as GuardEvent);
    interpreter.handle(failed('a', 'stream-stalled'));
    interpreter.handle(end('a', { stream: true, outcome: 'stream-stalled' }));
    expect(of('streamStalled')).toHaveLength(1);
  });

  it('measures time to first event from the commit by first event, never from a heartbeat', () => {
    let now = 1000;
    const { sink, ended } = recordingSink();
    const interpreter = new GuardEventInterpreter(sink, { now: () => now });
    interpreter.handle(attempt('a'));
    now += 250;
    interpreter.handle({ type: 'stream-committed', route: ROUTE, requestId: 'a', attempt: 0, by: 'first-event' });
    interpreter.handle(end('a', { stream: true }));
    interpreter.handle(attempt('b'));
    interpreter.handle({ type: 'stream-committed', route: ROUTE, requestId: 'b', attempt: 0, by: 'heartbeat' });
    interpreter.handle(end('b', { stream: true }));
    expect(ended.map((m) => m.timeToFirstEventSeconds)).toEqual([0.25, undefined]);
  });

  it("prefers the record's own timings and token counts when the core has them", () => {
    const { sink, ended } = recordingSink();
    const interpreter = new GuardEventInterpreter(sink, { now: () => 0 });
    interpreter.handle({ type: 'stream-committed', route: ROUTE, requestId: 'a', attempt: 0, by: 'first-event' });
    interpreter.handle(
      end('a', {
        stream: true,
        commitMs: 420,
        inputTokens: 11,
        cacheReadInputTokens: 100,
        cacheCreationInputTokens: 7,
      }),
    );
    interpreter.handle(end('b', { stream: true, firstEventMs: 300, commitMs: 10 }));
    expect(ended[0]).toMatchObject({
      timeToFirstEventSeconds: 0.42,
      tokens: { input: 11, output: 6, cacheRead: 100, cacheWrite: 7 },
    });
    expect(ended[1]?.timeToFirstEventSeconds).toBe(0.3);
  });

  it('counts client disconnects by status 499 and breaker, budget and deadline events by route', () => {
    const { sink, ended, of } = recordingSink();
    const interpreter = new GuardEventInterpreter(sink);
    interpreter.handle({ type: 'breaker-open', key: 'chat' });
    interpreter.handle({ type: 'breaker-half-open', key: 'chat' });
    interpreter.handle({ type: 'breaker-close', key: 'chat' });
    interpreter.handle({ type: 'breaker-rejected', route: ROUTE, key: 'chat', requestId: 'a' });
    interpreter.handle({ type: 'retry-budget-rejected', route: ROUTE, requestId: 'b' });
    interpreter.handle({
      type: 'deadline-exceeded',
      route: ROUTE,
      requestId: 'c',
      source: 'caller-header',
      budgetMs: 50,
    });
    interpreter.handle({ type: 'client-aborted', route: ROUTE, requestId: 'd', outputTokens: 3 });
    interpreter.handle(end('d', { status: 499, outcome: 'client-aborted' }));
    expect(of('breakerTransitioned')).toEqual([
      ['chat', 'open'],
      ['chat', 'half-open'],
      ['chat', 'closed'],
    ]);
    expect(of('breakerRejected')).toEqual([[ROUTE, 'chat']]);
    expect(of('retryBudgetRejected')).toEqual([[ROUTE]]);
    expect(of('deadlineExceeded')).toEqual([[ROUTE, 'caller-header']]);
    expect(ended[0]).toMatchObject({ clientDisconnected: true, statusClass: '499', wasInFlight: true });
  });

  it('bounds the requests it follows, taking an evicted one out of flight', () => {
    const { sink, of } = recordingSink();
    const interpreter = new GuardEventInterpreter(sink, { maxTrackedRequests: 2 });
    for (const id of ['a', 'b', 'c']) interpreter.handle(attempt(id));
    expect(interpreter.tracked).toBe(2);
    expect(of('requestAbandoned')).toEqual([[ROUTE]]);
  });

  it('bounds labels: unknown outcomes and made-up models', () => {
    const { sink, ended } = recordingSink();
    const interpreter = new GuardEventInterpreter(sink, { maxModels: 1 });
    interpreter.handle(end('a', { model: 'claude-sonnet-5', outcome: 'Weird Outcome' }));
    interpreter.handle(end('b', { model: 'made-up-model' }));
    expect(ended.map((m) => [m.model, m.outcome])).toEqual([
      ['claude-sonnet-5', 'other'],
      ['other', 'ok'],
    ]);
  });
});

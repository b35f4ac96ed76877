import { describe, expect, it } from 'vitest';
import { RequestRecord } from './request-record.js';

function recordAt(time: { now: number }) {
  const ended: RequestRecord[] = [];
  const record = new RequestRecord({
    route: 'chat',
    requestId: 'cg_1',
    sdkVersion: '1.14.0',
    now: () => time.now,
    onEnd: (r) => ended.push(r),
  });
  return { record, ended };
}

describe('RequestRecord', () => {
  it('writes its line exactly once, with the first status, and its duration', () => {
    const time = { now: 100 };
    const { record, ended } = recordAt(time);
    record.attemptStarted();
    time.now = 130;
    record.end(200);
    record.end(500);
    expect(ended).toHaveLength(1);
    expect(record.status).toBe(200);
    expect(record.outcome).toBe('ok');
    expect(record.durationMs).toBe(30);
  });

  it('waits for every open stream before it ends', () => {
    const time = { now: 0 };
    const { record, ended } = recordAt(time);
    const closeA = record.openStream();
    const closeB = record.openStream();
    record.end(200);
    expect(ended).toHaveLength(0);
    closeA();
    closeA();
    expect(ended).toHaveLength(0);
    closeB();
    expect(ended).toHaveLength(1);
    expect(record.stream).toBe(true);
  });

  it('counts attempts, minus those a breaker refused', () => {
    const { record } = recordAt({ now: 0 });
    record.attemptStarted();
    record.attemptStarted();
    record.attemptRefused();
    expect(record.attempts).toBe(1);
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

  it('times the first upstream byte and the commit once each', () => {
    const time = { now: 10 };
    const { record } = recordAt(time);
    time.now = 25;
    record.upstreamAnswered('req_1');
    time.now = 40;
    record.upstreamAnswered('req_2');
    record.committed();
    time.now = 50;
    record.committed();
    expect(record.timings).toMatchObject({ startedAt: 10, firstUpstreamByteAt: 25, committedAt: 40 });
    expect(record.upstreamRequestId).toBe('req_2');
  });

  it('freezes outcome and failure once written', () => {
    const { record } = recordAt({ now: 0 });
    record.defaultOutcome('upstream-error');
    record.defaultOutcome('ok');
    expect(record.outcome).toBe('upstream-error');
    record.end(502);
    record.setOutcome('ok');
    record.failed({ kind: 'http', type: 'api_error', status: 500, upstreamMessage: undefined, errorCode: undefined });
    expect(record.outcome).toBe('upstream-error');
    expect(record.failure).toBeUndefined();
  });
});

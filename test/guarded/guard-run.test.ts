import Anthropic from '@anthropic-ai/sdk';
import { ClaudeGuardError, type AttemptContext } from '@claude-guard/core';
import { describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  LATE_HEADERS,
  MANUAL_DEADLINE_MS,
  MODEL,
  NO_RESERVE,
  PROMPT,
  expectAnthropicError,
  manualClock,
  retryCounts,
  runOutAtUpstream,
  useStack,
} from '../support/index.js';

const params = { model: MODEL, max_tokens: 50, messages: [{ role: 'user' as const, content: PROMPT }] };

async function rejection(promise: Promise<unknown>): Promise<ClaudeGuardError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ClaudeGuardError) return error;
    throw error;
  }
  throw new Error('expected a ClaudeGuardError');
}

describe.each(ADAPTERS)('guard.run and claude.run in an app (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  it('guard.run(name, fn) with the signal and timeout forwarded retries and answers', async () => {
    const h = await start(adapter);
    h.fake.enqueue(529, 'ok');
    const result = await h.send('/run', { message: 'hello run' });
    expect(result.status).toBe(200);
    expect(result.body.text).toContain('hello run');
    expect(retryCounts(h.fake)).toEqual(['0', '0']);
    for (const record of h.fake.requests) expect(Number(record.headers['x-stainless-timeout'])).toBeLessThanOrEqual(60);
    await h.waitForLogs(1);
    expect(h.logs[0]!.record).toMatchObject({ route: 'batch', status: 200, attempts: 2, outcome: 'ok' });
  });

  it("guard.run honours the caller's deadline header and aborts the upstream request", async () => {
    // The deadline runs out on a manual clock once the upstream has the request (on real time, a loaded
    // machine could spend a short one before the attempt reached the fake: no upstream request to abort).
    const clock = manualClock();
    const h = await start(adapter, { guard: { clock } });
    h.fake.enqueue(LATE_HEADERS);
    const headers = { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS), 'x-request-id': 'run-1' };
    const result = await runOutAtUpstream(h.fake, clock, () => h.send('/run', { message: 'hi' }, { headers }));
    expect(result.status).toBe(504);
    expect(expectAnthropicError(result).message).toContain(
      `caller's deadline (from the request header) of ${MANUAL_DEADLINE_MS} ms`,
    );
    expect(result.body.request_id).toBe('run-1');
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
  });

  it('guard.run passes a client error on without retrying', async () => {
    const h = await start(adapter);
    h.fake.enqueue(404, 'ok');
    const result = await h.send('/run', { message: 'hi' });
    expect(result.status).toBe(404);
    expect(expectAnthropicError(result).type).toBe('not_found_error');
    expect(h.fake.requests).toHaveLength(1);
  });

  it('claude.run on a guarded route retries under the route', async () => {
    const h = await start(adapter);
    h.fake.enqueue(500, 'ok');
    const result = await h.chat({}, { via: 'run' });
    expect(result.status).toBe(200);
    expect(result.body.text).toContain('zebra');
    expect(h.fake.requests).toHaveLength(2);
  });
});

describe('guard.run with a custom call', () => {
  const start = useStack(NO_RESERVE);

  it('gives every attempt its own signal, the time left as timeout, and the attempt number', async () => {
    const h = await start('express');
    h.fake.enqueue(503, 'ok');
    const seen: { attempt: number; timeout: number; aborted: boolean; signal: AbortSignal }[] = [];
    const message = await h.guard.run(
      'nightly',
      (context: AttemptContext) => {
        seen.push({
          attempt: context.attempt,
          timeout: context.timeout,
          aborted: context.signal.aborted,
          signal: context.signal,
        });
        return h.guardClient.messages.create(params, {
          signal: context.signal,
          timeout: context.timeout,
          maxRetries: 0,
        });
      },
      { headers: new Headers({ 'x-request-timeout-ms': '3000' }) },
    );
    expect(message.model).toBe(MODEL);
    expect(seen.map((s) => s.attempt)).toEqual([0, 1]);
    expect(seen.every((s) => !s.aborted && s.timeout > 0 && s.timeout <= 3000)).toBe(true);
    expect(seen[0]!.signal).not.toBe(seen[1]!.signal);
    expect(h.fake.requests).toHaveLength(2);
    for (const record of h.fake.requests) expect(Number(record.headers['x-stainless-timeout'])).toBeLessThanOrEqual(3);
  });

  it('retries a transient SDK error thrown by the custom call', async () => {
    const h = await start('express');
    let calls = 0;
    const result = await h.guard.run('custom', () => {
      calls += 1;
      if (calls < 3) {
        throw Anthropic.APIError.generate(
          529,
          { type: 'error', error: { type: 'overloaded_error', message: 'busy' } },
          undefined,
          new Headers(),
        );
      }
      return Promise.resolve('done');
    });
    expect(result).toBe('done');
    expect(calls).toBe(3);
  });

  it('ends a call that ignores its signal at the deadline', async () => {
    const h = await start('express');
    const error = await rejection(
      h.guard.run('stubborn', () => new Promise<never>(() => {}), {
        headers: new Headers({ 'x-request-timeout-ms': '50', 'x-request-id': 'stubborn-1' }),
      }),
    );
    expect(error.status).toBe(504);
    expect(error.outcome).toBe('deadline-exceeded');
    expect(error.requestId).toBe('stubborn-1');
    await h.waitForLogs(1);
    expect(h.logs[0]!.record).toMatchObject({
      route: 'stubborn',
      status: 504,
      outcome: 'deadline-exceeded',
      attempts: 1,
    });
  });

  it("does not retry an error from the caller's own code and answers a generic 500", async () => {
    const h = await start('express');
    let calls = 0;
    const error = await rejection(
      h.guard.run('buggy', () => {
        calls += 1;
        return Promise.reject(new RangeError('my bug'));
      }),
    );
    expect(calls).toBe(1);
    expect(error.status).toBe(500);
    expect(error.outcome).toBe('internal-error');
    expect(error.message).toBe("Internal error in route 'buggy'");
  });

  it('stops when the RunOptions signal aborts', async () => {
    const h = await start('express');
    h.fake.enqueue({ kind: 'delay-headers', ms: 5000 });
    const controller = new AbortController();
    const pending = rejection(
      h.guard.run(
        'cancellable',
        ({ signal, timeout }) => h.guardClient.messages.create(params, { signal, timeout, maxRetries: 0 }),
        { signal: controller.signal },
      ),
    );
    while (h.fake.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 2));
    controller.abort();
    const error = await pending;
    expect(error.outcome).toBe('client-aborted');
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
  });

  it('rejects a malformed deadline header before calling fn', async () => {
    const h = await start('express');
    let calls = 0;
    const error = await rejection(
      h.guard.run(
        'strict',
        () => {
          calls += 1;
          return Promise.resolve(1);
        },
        { headers: new Headers({ 'grpc-timeout': '10x' }) },
      ),
    );
    expect(calls).toBe(0);
    expect(error.status).toBe(400);
    expect(error.message).toContain('grpc-timeout');
  });
});

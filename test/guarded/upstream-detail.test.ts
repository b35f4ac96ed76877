import { describe, expect, it, vi } from 'vitest';
import { ADAPTERS, API_KEY, NO_RESERVE, expectAnthropicError, useStack, type Stack } from '../support/index.js';

// The fake's own validation message for `max_tokens: 0`, as the API words it.
const FIELD_MESSAGE = 'max_tokens: Input should be greater than or equal to 1';
// A 400 whose message echoes the guard's key, with an error code: what a leaky upstream sends.
const LEAKY_400 = {
  kind: 'status' as const,
  status: 400,
  message: 'messages.0.content.0.type: Field required',
  echoApiKey: true,
  errorCode: 'bad_block_shape',
};

/** The request-end event and the attempt-failed events of one request. */
function eventsOf(h: Stack, requestId: string) {
  const mine = h.events.filter((e) => 'requestId' in e && e.requestId === requestId);
  return {
    end: mine.find((e) => e.type === 'request-end'),
    failed: mine.filter((e) => e.type === 'attempt-failed'),
  };
}

async function lineFor(h: Stack, requestId: string) {
  await vi.waitFor(() => expect(h.logs.some((l) => l.record.requestId === requestId)).toBe(true), {
    timeout: 5_000,
    interval: 2,
  });
  return h.logs.find((l) => l.record.requestId === requestId)!.record;
}

describe.each(ADAPTERS)('the upstream 4xx detail of a guarded call (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  it("keeps a bad field's message in the log line and the events, and out of the response", async () => {
    const h = await start(adapter);
    const result = await h.chat({ 'x-request-id': 'bad-field' }, { max_tokens: 0 });
    expect(result.status).toBe(400);
    expect(expectAnthropicError(result)).toEqual({
      type: 'invalid_request_error',
      message: "The Claude API answered 400 invalid_request_error (route 'chat', 1 attempt)",
    });
    expect(result.text).not.toContain('max_tokens');
    const line = await lineFor(h, 'bad-field');
    expect(line).toMatchObject({ status: 400, outcome: 'bad-request', upstreamMessage: FIELD_MESSAGE });
    expect(line.errorCode).toBeUndefined();
    const { end, failed } = eventsOf(h, 'bad-field');
    expect(end).toMatchObject({ upstreamMessage: FIELD_MESSAGE, errorCode: undefined });
    expect(failed).toEqual([expect.objectContaining({ status: 400, upstreamMessage: FIELD_MESSAGE })]);
  });

  it('redacts the key an upstream echoes, and keeps its error code', async () => {
    const h = await start(adapter);
    h.fake.enqueue(LEAKY_400);
    const result = await h.chat({ 'x-request-id': 'leaky' });
    expect(result.status).toBe(400);
    expect(result.text).not.toContain('Field required');
    const line = await lineFor(h, 'leaky');
    expect(line.upstreamMessage).toBe(`${LEAKY_400.message} (api key: [redacted])`);
    expect(line.errorCode).toBe('bad_block_shape');
    const { end, failed } = eventsOf(h, 'leaky');
    expect(end).toMatchObject({ upstreamMessage: line.upstreamMessage, errorCode: 'bad_block_shape' });
    expect(failed).toEqual([
      expect.objectContaining({ upstreamMessage: line.upstreamMessage, errorCode: 'bad_block_shape' }),
    ]);
    const seen = JSON.stringify([h.logs, h.events, result.text]);
    expect(seen).not.toContain(API_KEY);
  });

  it('keeps each failed attempt its own message, and the line only the last one', async () => {
    const h = await start(adapter);
    h.fake.enqueue({ kind: 'status', status: 529, message: 'first try: overloaded' }, 'ok');
    const result = await h.chat({ 'x-request-id': 'retried' });
    expect(result.status).toBe(200);
    const line = await lineFor(h, 'retried');
    // The request succeeded: no failure ended it.
    expect(line).toMatchObject({ outcome: 'ok', upstreamMessage: undefined, errorCode: undefined });
    expect(eventsOf(h, 'retried').failed).toEqual([
      expect.objectContaining({ status: 529, upstreamMessage: 'first try: overloaded' }),
    ]);
  });

  it('answers with the redacted upstream message when the route opts in', async () => {
    const h = await start(adapter, { chat: { forwardUpstreamClientErrors: true } });
    const bad = await h.chat({ 'x-request-id': 'opt-in-1' }, { max_tokens: 0 });
    expect(bad.status).toBe(400);
    expect(expectAnthropicError(bad)).toEqual({ type: 'invalid_request_error', message: FIELD_MESSAGE });
    h.fake.enqueue(LEAKY_400);
    const leaky = await h.chat({ 'x-request-id': 'opt-in-2' });
    expect(expectAnthropicError(leaky).message).toBe(`${LEAKY_400.message} (api key: [redacted])`);
    expect(leaky.text).not.toContain(API_KEY);
  });

  it('answers with it on every guarded route when the guard opts in, and never for a 5xx', async () => {
    const h = await start(adapter, { guard: { forwardUpstreamClientErrors: true } });
    const bad = await h.chat({}, { max_tokens: 0 });
    expect(expectAnthropicError(bad).message).toBe(FIELD_MESSAGE);
    const run = await h.send('/run', { max_tokens: 0 });
    expect(run.status).toBe(400);
    expect(expectAnthropicError(run).message).toBe(FIELD_MESSAGE);
    h.fake.enqueue(
      ...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 529, message: 'busy here' })),
    );
    const busy = await h.chat({ 'x-request-id': 'busy' });
    expect(busy.status).toBe(529);
    expect(busy.text).not.toContain('busy here');
    expect((await lineFor(h, 'busy')).upstreamMessage).toBe('busy here');
  });

  it('lets a route opt out of a guard-wide opt-in', async () => {
    const h = await start(adapter, {
      guard: { forwardUpstreamClientErrors: true },
      chat: { forwardUpstreamClientErrors: false },
    });
    const bad = await h.chat({}, { max_tokens: 0 });
    expect(bad.status).toBe(400);
    expect(bad.text).not.toContain('max_tokens');
  });

  it('keeps forwarding on the passthrough by default, whatever guarded routes do', async () => {
    const h = await start(adapter);
    h.fake.enqueue(LEAKY_400);
    const leaky = await h.proxy({ 'x-request-id': 'proxy-leaky' });
    expect(expectAnthropicError(leaky).message).toBe(`${LEAKY_400.message} (api key: [redacted])`);
    expect((await lineFor(h, 'proxy-leaky')).upstreamMessage).toBe(`${LEAKY_400.message} (api key: [redacted])`);
  });
});

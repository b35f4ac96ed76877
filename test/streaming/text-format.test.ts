import { afterEach, describe, expect, it } from 'vitest';
import { ADAPTERS, json, names, params, readSse, startStack, textEventsText, type Stack } from '../support/index.js';

let h: Stack | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const MESSAGE = params().messages[0]!.content as string;

describe.each(ADAPTERS)('streaming via %s: the text format read with fetch', (adapter) => {
  it('sends `event: text` JSON strings that add up to the reply, then `event: done` with usage', async () => {
    h = await startStack({ adapter });
    const expected = await h.directText();

    const response = await h.post('/chat', { message: MESSAGE, stream: true });
    const events = await readSse(response);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const list = names(events);
    expect(list.at(-1)).toBe('done');
    expect(new Set(list.slice(0, -1))).toEqual(new Set(['text']));
    expect(list.filter((name) => name === 'text')).toHaveLength(12);
    expect(textEventsText(events)).toBe(expected);
    expect(json(events.at(-1))).toEqual({ stop_reason: 'end_turn', usage: { input_tokens: 9, output_tokens: 12 } });
    expect(await h.logLine()).toMatchObject({ route: 'chat', outcome: 'ok', outputTokens: 12, stream: true });
  });

  it('retries a 529 before the first event in the text format too', async () => {
    h = await startStack({ adapter });
    const expected = await h.directText();
    h.fake.enqueue(529, 'ok');

    const events = await readSse(await h.post('/chat', { message: MESSAGE, stream: true }));

    expect(textEventsText(events)).toBe(expected);
    expect(events.at(-1)?.event).toBe('done');
    expect(h.fake.requests.map((r) => r.status)).toEqual([529, 200]);
  });

  it('ends a mid-stream failure with `event: error` carrying an Anthropic-shaped body', async () => {
    h = await startStack({ adapter, fake: { tokenDelayMs: 50 } });
    h.fake.enqueue({ kind: 'in-band-error', afterEvents: 5, type: 'overloaded_error' });

    const response = await h.post('/chat', { message: MESSAGE, stream: true });
    const events = await readSse(response);

    expect(response.status).toBe(200);
    expect(names(events)).toEqual(['text', 'text', 'error']);
    expect(textEventsText(events)).toBe('the quick');
    expect(json(events.at(-1))).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: expect.any(String) },
      request_id: response.headers.get('x-request-id'),
    });
    expect(h.fake.requests).toHaveLength(1);
  });

  it('ends a mid-stream stall with `event: error` of type timeout_error and aborts the upstream', async () => {
    h = await startStack({ adapter, guard: { stream: { idleTimeoutMs: 150, heartbeatMs: 10_000 } } });
    h.fake.enqueue({ kind: 'stall', afterEvents: 4 });

    const events = await readSse(await h.post('/chat', { message: MESSAGE, stream: true }));

    expect(names(events)).toEqual(['text', 'error']);
    expect(json(events.at(-1))).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
  });

  it('answers a failure before the first event with a real status and JSON body', async () => {
    h = await startStack({ adapter, guard: { retry: { maxAttempts: 2 } } });
    h.fake.enqueue(529, 529);

    const response = await h.post('/chat', { message: MESSAGE, stream: true });

    expect(response.status).toBe(529);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    expect(h.fake.requests).toHaveLength(2);
  });
});

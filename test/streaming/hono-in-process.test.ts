import { afterEach, describe, expect, it } from 'vitest';
import {
  SseReader,
  deltaText,
  isCompleteAnthropicStream,
  json,
  names,
  params,
  readSse,
  startStack,
  textEventsText,
  type Stack,
} from '../support/index.js';

let h: Stack | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

function request(h: Stack, path: string, body: unknown): Promise<Response> {
  return Promise.resolve(
    h.hono!.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );
}

describe('streaming via hono in-process (app.request)', () => {
  it('/v1/messages streams the whole answer', async () => {
    h = await startStack({ adapter: 'hono' });
    const expected = await h.directText();

    const response = await request(h, '/v1/messages', { ...params(), stream: true });
    const events = await readSse(response);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(isCompleteAnthropicStream(events)).toBe(true);
    expect(deltaText(events)).toBe(expected);
  });

  it('/v1/messages retries a 529 before the first event', async () => {
    h = await startStack({ adapter: 'hono' });
    const expected = await h.directText();
    h.fake.enqueue(529, 'ok');

    const events = await readSse(await request(h, '/v1/messages', { ...params(), stream: true }));

    expect(deltaText(events)).toBe(expected);
    expect(h.fake.requests.map((r) => r.status)).toEqual([529, 200]);
  });

  it('/chat streams the text format', async () => {
    h = await startStack({ adapter: 'hono' });
    const expected = await h.directText();

    const response = await request(h, '/chat', { message: params().messages[0]!.content, stream: true });
    const events = await readSse(response);

    expect(response.headers.get('x-request-id')).not.toBeNull();
    expect(textEventsText(events)).toBe(expected);
    expect(json(events.at(-1))).toMatchObject({ stop_reason: 'end_turn', usage: { output_tokens: 12 } });
  });

  it('cancelling the body aborts the upstream and logs client-aborted', async () => {
    h = await startStack({ adapter: 'hono', fake: { tokenDelayMs: 50, replyWords: 200 } });

    const response = await request(h, '/v1/messages', { ...params(), stream: true });
    const reader = new SseReader(response.body);
    const read = await reader.until((message) => message.event === 'content_block_delta');
    await reader.cancel();
    await h.fake.settled();

    expect(names(read).at(-1)).toBe('content_block_delta');
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
    expect(await h.logLine()).toMatchObject({ outcome: 'client-aborted', attempts: 1 });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { ADAPTERS, SseReader, params, settledValue, startStack, type Stack } from '../support/index.js';

let h: Stack | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

const WORDS = 2000;
// Big words make the whole answer (~50 MB) several times larger than every socket buffer on the way
// (fake -> our app -> the test's fetch; the kernel's autotuned buffers hold several MB), so only
// back-pressure can hold the upstream back.
const BIG_WORDS = ['a', 'b', 'c', 'd'].map((letter) => letter.repeat(25_000)).join(' ');

describe.each(ADAPTERS)('streaming via %s: a slow reader', (adapter) => {
  it('back-pressures the upstream instead of buffering the stream, and lets it resume when read again', async () => {
    h = await startStack({ adapter, fake: { replyWords: WORDS, tokenDelayMs: 0 } });
    const response = await h.post('/v1/messages', { ...params(BIG_WORDS, WORDS), stream: true });
    expect(response.status).toBe(200);
    const reader = new SseReader(response.body);
    await reader.until((message) => message.event === 'content_block_delta');
    const upstream = () => h!.fake.requests[0]!.eventsSent;

    // Stop reading. The upstream writes until the buffers on the way are full, then waits.
    const sentWhilePaused = await settledValue(upstream);
    expect(sentWhilePaused).toBeLessThan(WORDS / 2);
    expect(h.fake.requests[0]?.outcome).toBe('pending');

    // Reading some more lets the upstream go on, and it stops again.
    const more = await reader.until(
      (() => {
        let deltas = 0;
        return (message) => message.event === 'content_block_delta' && ++deltas === 200;
      })(),
    );
    expect(more).toHaveLength(200);
    const sentAfterMore = await settledValue(upstream);
    expect(sentAfterMore).toBeGreaterThan(sentWhilePaused);
    expect(sentAfterMore).toBeLessThan(WORDS);

    // Giving up aborts the upstream.
    await reader.cancel();
    await h.fake.settled();
    expect(h.fake.requests[0]?.outcome).toBe('client-aborted');
  });
});

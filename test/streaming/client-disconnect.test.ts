import { afterEach, describe, expect, it, vi } from 'vitest';
import { ADAPTERS, SseReader, params, startStack, type Stack } from '../support/index.js';

let h: Stack | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

describe.each(ADAPTERS)('streaming via %s: the client going away', (adapter) => {
  it.each([
    { path: '/v1/messages', body: { ...params(), stream: true }, route: 'proxy', firstEvent: 'content_block_delta' },
    {
      path: '/chat',
      body: { message: params().messages[0]!.content, stream: true },
      route: 'chat',
      firstEvent: 'text',
    },
  ])(
    '$path: aborts the upstream request, logs client-aborted, and the breaker counts only the commit',
    async ({ path, body, route, firstEvent }) => {
      h = await startStack({ adapter, fake: { tokenDelayMs: 50, replyWords: 200 } });
      const controller = new AbortController();
      const response = await h.post(path, body, { signal: controller.signal });
      expect(response.status).toBe(200);
      const reader = new SseReader(response.body);
      const read = await reader.until((message) => message.event === firstEvent);
      expect(read.at(-1)?.event).toBe(firstEvent);

      controller.abort();
      await h.fake.settled();

      expect(h.fake.requests).toHaveLength(1);
      const upstream = h.fake.requests[0]!;
      expect(upstream.outcome).toBe('client-aborted');
      // Far from the 200 words it would have generated had nobody stopped it.
      expect(upstream.eventsSent).toBeLessThan(100);
      const line = await h.logLine();
      expect(line).toMatchObject({ route, outcome: 'client-aborted', attempts: 1, stream: true });
      // message_start reported how many output tokens there were so far.
      expect(line.outputTokens).toBe(1);
      expect(h.events).toContainEqual(expect.objectContaining({ type: 'client-aborted', route, outputTokens: 1 }));
      // The verdict was given at the commit (a valid first event: a success); leaving after it adds nothing.
      const breaker = h.guard.status().breakers.find((b) => b.key === route);
      expect(breaker?.counts).toMatchObject({ failures: 0, successes: 1, neutral: 0 });
    },
  );

  it('leaving while a heartbeat-committed stream still waits for Claude stops the attempt', async () => {
    h = await startStack({ adapter, guard: { stream: { heartbeatMs: 20 } } });
    h.fake.enqueue({ kind: 'slow', firstEventDelayMs: 5_000 });
    const controller = new AbortController();

    const response = await h.post('/v1/messages', { ...params(), stream: true }, { signal: controller.signal });
    const reader = new SseReader(response.body);
    expect((await reader.next())?.event).toBe('ping');
    // The heartbeat can beat the upstream request to the fake: leave once Claude is working on it.
    await vi.waitFor(() => expect(h!.fake.requests).toHaveLength(1));
    controller.abort();
    await h.fake.settled();

    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
    expect(h.fake.requests[0]?.eventsSent).toBe(0);
    expect(await h.logLine()).toMatchObject({ outcome: 'client-aborted', attempts: 1 });
    const breaker = h.guard.status().breakers.find((b) => b.key === 'proxy');
    expect(breaker?.counts.failures).toBe(0);
  });
});

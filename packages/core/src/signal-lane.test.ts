import Anthropic, { APIUserAbortError } from '@anthropic-ai/sdk';
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { ClaudeClient } from './claude-client.js';
import { attemptOptions, signalLane } from './signal-lane.js';
import { testMessage } from './testing/message.js';

// The real SDK, its fetch answered in-process: what matters here is what the fetch is handed.

const MESSAGE = testMessage();
const params = { model: 'claude-x', max_tokens: 8, messages: [{ role: 'user' as const, content: 'hello' }] };

interface Seen {
  signal: AbortSignal | null | undefined;
  headers: Headers;
  /** `abort` listeners on the attempt's signal while the request was in the fetch. */
  listenersOnAttempt: number;
}

/** A fetch that records what it is handed; it answers at once, or only when its signal aborts. */
function recordingFetch(attempt: AbortSignal, hang = false) {
  const seen: Seen[] = [];
  const fetch = (_url: unknown, init?: RequestInit): Promise<Response> => {
    seen.push({
      signal: init?.signal,
      headers: new Headers(init?.headers),
      listenersOnAttempt: getEventListeners(attempt, 'abort').length,
    });
    if (!hang) return Promise.resolve(Response.json(MESSAGE, { headers: { 'request-id': 'req_1' } }));
    return new Promise((_resolve, reject) => {
      init?.signal?.addEventListener('abort', () => reject(init.signal!.reason as Error), { once: true });
    });
  };
  return { fetch, seen };
}

function lanedClient(fetch: ReturnType<typeof recordingFetch>['fetch'], options: object = {}): ClaudeClient {
  return signalLane(new Anthropic({ apiKey: 'k', maxRetries: 0, fetch, ...options })).client;
}

describe('signalLane', () => {
  it("hands the attempt's signal to the fetch itself: the SDK links nothing to it", async () => {
    const attempt = new AbortController().signal;
    const { fetch, seen } = recordingFetch(attempt);
    const client = lanedClient(fetch);
    const message = await client.messages.create(params, attemptOptions(client, attempt, 5_000, undefined));
    expect(message.id).toBe('msg_1');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.signal).toBe(attempt);
    expect(seen[0]!.listenersOnAttempt).toBe(0);
    expect(getEventListeners(attempt, 'abort')).toHaveLength(0);
  });

  it('a laned call stops when its signal aborts', async () => {
    const controller = new AbortController();
    const { fetch, seen } = recordingFetch(controller.signal, true);
    const client = lanedClient(fetch);
    const pending = client.messages.create(params, attemptOptions(client, controller.signal, 5_000, undefined));
    await expect.poll(() => seen.length).toBe(1);
    controller.abort(new Error('deadline'));
    await expect(pending).rejects.toThrow();
    expect(seen[0]!.signal!.aborted).toBe(true);
  });

  it("keeps the caller's own options (headers) and still lanes the signal", async () => {
    const attempt = new AbortController().signal;
    const { fetch, seen } = recordingFetch(attempt);
    const client = lanedClient(fetch);
    await client.messages.create(
      params,
      attemptOptions(client, attempt, 5_000, { headers: { 'x-caller': 'yes' }, maxRetries: 4 }),
    );
    expect(seen[0]!.signal).toBe(attempt);
    expect(seen[0]!.headers.get('x-caller')).toBe('yes');
  });

  it("combines a caller's own signal through the SDK, which names the caller's abort", async () => {
    const attempt = new AbortController().signal;
    const caller = new AbortController();
    const { fetch, seen } = recordingFetch(attempt, true);
    const client = lanedClient(fetch);
    const options = attemptOptions(client, attempt, 5_000, { signal: caller.signal });
    expect(options.signal).not.toBe(attempt);
    expect(options.fetchOptions).toBeUndefined();
    const pending = client.messages.create(params, options);
    await expect.poll(() => seen.length).toBe(1);
    caller.abort();
    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);
  });

  it('gives the signal through the SDK when the caller brings fetchOptions of their own', async () => {
    const attempt = new AbortController().signal;
    const { fetch, seen } = recordingFetch(attempt);
    const client = lanedClient(fetch);
    const options = attemptOptions(client, attempt, 5_000, { fetchOptions: { keepalive: false } });
    expect(options.signal).toBe(attempt);
    await client.messages.create(params, options);
    // The SDK's own controller reaches the fetch, linked to the attempt's signal.
    expect(seen[0]!.signal).not.toBe(attempt);
    expect(seen[0]!.listenersOnAttempt).toBe(1);
  });

  it('leaves a client with middleware as it is: a middleware may rebuild the request without the lane', async () => {
    const attempt = new AbortController().signal;
    const { fetch, seen } = recordingFetch(attempt);
    const sdk = new Anthropic({ apiKey: 'k', maxRetries: 0, fetch, middleware: [(request, next) => next(request)] });
    const lane = signalLane(sdk);
    expect(lane).toEqual({ client: sdk, laned: false });
    const client = lane.client;
    const options = attemptOptions(client, attempt, 5_000, undefined);
    expect(options).toEqual({ signal: attempt, timeout: 5_000, maxRetries: 0 });
    await client.messages.create(params, options);
    expect(seen[0]!.signal).not.toBe(attempt);
    expect(seen[0]!.listenersOnAttempt).toBe(1);
  });

  it('leaves a client that is not the SDK’s as it is', () => {
    const stand: ClaudeClient = { messages: { create: () => Promise.reject(new Error('unused')) } as never };
    expect(signalLane(stand)).toEqual({ client: stand, laned: false });
    const attempt = new AbortController().signal;
    expect(attemptOptions(stand, attempt, 10, undefined)).toEqual({ signal: attempt, timeout: 10, maxRetries: 0 });
  });

  it('keeps the caller’s client untouched: the lane is a copy', async () => {
    const attempt = new AbortController().signal;
    const { fetch, seen } = recordingFetch(attempt);
    const sdk = new Anthropic({ apiKey: 'k', maxRetries: 0, fetch });
    const lane = signalLane(sdk);
    expect(lane.laned).toBe(true);
    expect(lane.client).not.toBe(sdk);
    await sdk.messages.create(params);
    expect(seen[0]!.signal).toBeInstanceOf(AbortSignal);
    expect(seen[0]!.signal).not.toBe(attempt);
    // Only the copy is laned: the caller's own client still gets the signal through the SDK.
    expect(attemptOptions(sdk, attempt, 10, undefined).signal).toBe(attempt);
    expect(attemptOptions(lane.client, attempt, 10, undefined).signal).toBeUndefined();
  });
});

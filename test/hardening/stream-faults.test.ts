import { constants, createGzip } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  healthyStream,
  messageStart,
  json,
  names,
  params,
  readSse,
  sse,
  sseHead,
  startHostileUpstream,
  startStack,
  type HostileUpstream,
  type Stack,
} from '../support/index.js';

/**
 * Issue 10 item 9: upstream faults on a stream were classified as our own. An oversized event
 * before the commit was a 500 "Internal error" and not retried; after the commit an oversized or
 * `null` event was "the connection was lost"; an in-band `invalid_request_error` was a 502; a
 * complete stream with an `event: error` after its `message_stop` was thrown away and retried; a
 * corrupt gzip body was a 500. Each is an upstream fault with an accurate message now.
 */

const KEY = 'sk-ant-hostile-stream-key-0123456789';
const MAX_EVENT_BYTES = 1024 * 1024;
const FIVE_MB = 5 * 1024 * 1024;

let h: Stack | undefined;
let upstream: HostileUpstream | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
  await upstream?.close();
  upstream = undefined;
});

const BLOCK_START = sse('content_block_start', {
  type: 'content_block_start',
  index: 0,
  content_block: { type: 'text', text: '' },
});

function delta(text: string): string {
  return sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } });
}

function inBandError(type: string, message: string): string {
  return sse('error', { type: 'error', error: { type, message } });
}

type Route = 'passthrough' | 'chat';
const ROUTES: readonly Route[] = ['passthrough', 'chat'];

function send(harness: Stack, route: Route): Promise<Response> {
  return route === 'passthrough'
    ? harness.post('/v1/messages', { ...params(), stream: true })
    : harness.post('/chat', { message: 'hi', stream: true });
}

async function errorBody(response: Response): Promise<{ type: string; message: string }> {
  return ((await response.json()) as { error: { type: string; message: string } }).error;
}

describe.each(ADAPTERS)('stream faults are upstream faults (%s)', (adapter) => {
  async function start(handler: Parameters<typeof startHostileUpstream>[0], attemptTimeoutMs?: number): Promise<Stack> {
    upstream = await startHostileUpstream(handler);
    h = await startStack({
      adapter,
      upstreamUrl: upstream.url,
      apiKey: KEY,
      guard: {
        stream: { heartbeatMs: 10_000, firstEventTimeoutMs: 5_000, idleTimeoutMs: 5_000 },
        ...(attemptTimeoutMs === undefined ? {} : { retry: { attemptTimeoutMs } }),
      },
    });
    return h;
  }

  describe.each(ROUTES)('%s', (route) => {
    const chat = route === 'chat';

    it('an oversized first event is retried, then 502 saying the event was too large', async () => {
      const s = await start(({ res }) => {
        sseHead(res);
        res.end(messageStart('x'.repeat(FIVE_MB)));
      });

      const response = await send(s, route);

      expect(response.status).toBe(502);
      const error = await errorBody(response);
      expect(error.type).toBe('api_error');
      expect(error.message).toContain(`The Claude API sent an event larger than ${MAX_EVENT_BYTES} bytes`);
      expect(upstream!.requests()).toBe(3);
      expect(await s.logLine()).toMatchObject({ status: 502, outcome: 'upstream-error', attempts: 3 });
    });

    it('an oversized event after the commit ends the stream with an error that says so', async () => {
      const s = await start(({ res }) => {
        sseHead(res);
        res.write(messageStart() + BLOCK_START + delta('Hi'));
        // Later, in chunks of its own: after the commit.
        setTimeout(() => res.end(delta('x'.repeat(FIVE_MB))), 30);
      });

      const response = await send(s, route);
      const events = await readSse(response);

      expect(response.status).toBe(200);
      expect(names(events).at(-1)).toBe('error');
      const error = json<{ error: { type: string; message: string } }>(events.at(-1)).error;
      expect(error.type).toBe('api_error');
      expect(error.message).toContain(`larger than ${MAX_EVENT_BYTES} bytes`);
      expect(error.message).not.toMatch(/connection/i);
      expect(names(events)).toContain(chat ? 'text' : 'content_block_delta');
      expect(await s.logLine()).toMatchObject({ status: 200, outcome: 'upstream-error', attempts: 1 });
    });

    it('a `data: null` event after the commit is a malformed event, not a lost connection', async () => {
      const s = await start(({ res }) => {
        sseHead(res);
        res.write(messageStart() + BLOCK_START + delta('Hi'));
        setTimeout(() => res.end('event: content_block_delta\ndata: null\n\n'), 30);
      });

      const response = await send(s, route);
      const events = await readSse(response);

      expect(response.status).toBe(200);
      const error = json<{ error: { type: string; message: string } }>(events.at(-1)).error;
      expect(error.type).toBe('api_error');
      expect(error.message).toContain('malformed event');
      expect(error.message).not.toMatch(/connection/i);
      expect(await s.logLine()).toMatchObject({ status: 200, outcome: 'upstream-error' });
    });

    it('a first event of `data: null` is retried (never committed), then 502', async () => {
      const s = await start(({ res }) => {
        sseHead(res);
        res.end('event: message_start\ndata: null\n\n');
      });

      const response = await send(s, route);

      expect(response.status).toBe(502);
      expect((await errorBody(response)).message).toContain('malformed event');
      expect(upstream!.requests()).toBe(3);
    });

    it('a malformed event in the first chunk, after a valid first event, is retried rather than committed', async () => {
      const s = await start(({ res, index }) => {
        sseHead(res);
        if (index === 0) res.end(messageStart() + BLOCK_START + 'event: content_block_delta\ndata: [1]\n\n');
        else res.end(healthyStream('second time lucky'));
      });

      const response = await send(s, route);
      const events = await readSse(response);

      expect(response.status).toBe(200);
      expect(names(events)).not.toContain('error');
      expect(names(events).at(-1)).toBe(chat ? 'done' : 'message_stop');
      expect(upstream!.requests()).toBe(2);
      expect(await s.logLine()).toMatchObject({ status: 200, outcome: 'ok', attempts: 2 });
    });

    it('an in-band invalid_request_error before the commit is a 400, not retried', async () => {
      const s = await start(({ res }) => {
        sseHead(res);
        res.end(inBandError('invalid_request_error', `max_tokens is too large for key ${KEY}`));
      });

      const response = await send(s, route);

      expect(response.status).toBe(400);
      const error = await errorBody(response);
      expect(error.type).toBe('invalid_request_error');
      // The passthrough forwards upstream client errors (redacted), as for an HTTP 400; /chat uses its own words.
      if (chat) expect(error.message).toContain('invalid_request_error');
      else expect(error.message).toBe('max_tokens is too large for key [redacted]');
      expect(JSON.stringify(error)).not.toContain(KEY);
      expect(upstream!.requests()).toBe(1);
      expect(await s.logLine()).toMatchObject({ status: 400, outcome: 'bad-request', attempts: 1 });
      const breaker = s.guard.status().breakers.find((b) => b.key === (chat ? 'chat' : 'proxy'));
      expect(breaker?.counts).toMatchObject({ failures: 0, successes: 1 });
    });

    it.each([
      ['authentication_error', 401],
      ['permission_error', 403],
      ['not_found_error', 404],
      ['request_too_large', 413],
    ] as const)('an in-band %s before the commit is a %i', async (type, status) => {
      const s = await start(({ res }) => {
        sseHead(res);
        res.end(inBandError(type, 'no'));
      });

      const response = await send(s, route);

      expect(response.status).toBe(status);
      expect((await errorBody(response)).type).toBe(type);
      expect(upstream!.requests()).toBe(1);
    });

    it('an in-band invalid_request_error after the commit keeps its type', async () => {
      const s = await start(({ res }) => {
        sseHead(res);
        res.end(messageStart() + BLOCK_START + delta('Hi') + inBandError('invalid_request_error', 'nope'));
      });
      const response = await send(s, route);
      // The whole stream came in one chunk: the error is seen before the commit, so it is a 400.
      expect(response.status).toBe(400);
      await response.body?.cancel();

      upstream!.setHandler(({ res }) => {
        sseHead(res);
        res.write(messageStart() + BLOCK_START + delta('Hi'));
        setTimeout(() => res.end(inBandError('invalid_request_error', 'nope')), 30);
      });
      const late = await send(s, route);
      const events = await readSse(late);

      expect(late.status).toBe(200);
      expect(json<{ error: { type: string } }>(events.at(-1)).error.type).toBe('invalid_request_error');
    });

    it("the route's attempt timeout running out mid-stream is said so, not a lost connection", async () => {
      const s = await start(({ res }) => {
        sseHead(res);
        res.write(messageStart() + BLOCK_START + delta('Hi'));
        // Alive but slow: a delta every 20 ms, never finishing, until the guard hangs up.
        const timer = setInterval(() => res.write(delta(' more')), 20);
        res.on('close', () => clearInterval(timer));
      }, 300);

      const response = await send(s, route);
      const events = await readSse(response);

      expect(response.status).toBe(200);
      const error = json<{ error: { type: string; message: string } }>(events.at(-1)).error;
      expect(error.type).toBe('timeout_error');
      expect(error.message).toContain('attempt timeout (300 ms)');
      expect(error.message).not.toMatch(/connection/i);
      expect(await s.logLine()).toMatchObject({ status: 200, outcome: 'attempt-timeout', attempts: 1 });
    });

    it('a complete stream followed by `event: error` in the same chunk is complete: answered once', async () => {
      const s = await start(({ res }) => {
        sseHead(res);
        res.end(healthyStream('Hello there') + inBandError('overloaded_error', 'Overloaded'));
      });

      const response = await send(s, route);
      const events = await readSse(response);

      expect(response.status).toBe(200);
      expect(names(events)).not.toContain('error');
      expect(names(events).at(-1)).toBe(chat ? 'done' : 'message_stop');
      expect(upstream!.requests()).toBe(1);
      expect(await s.logLine()).toMatchObject({ status: 200, outcome: 'ok', attempts: 1 });
    });

    it('a corrupt gzip body is retried, then 502 saying it could not be decoded', async () => {
      const s = await start(({ res }) => {
        sseHead(res, 'req_hostile01', { 'content-encoding': 'gzip' });
        res.end(Buffer.from('this is not gzip, whatever the header says'));
      });

      const response = await send(s, route);

      expect(response.status).toBe(502);
      const error = await errorBody(response);
      expect(error.type).toBe('api_error');
      expect(error.message).toContain('could not be decoded');
      expect(upstream!.requests()).toBe(3);
      expect(await s.logLine()).toMatchObject({ status: 502, outcome: 'upstream-error', attempts: 3 });
    });

    it('a gzip body that turns corrupt after the commit ends with an error that says so', async () => {
      const s = await start(({ res }) => {
        sseHead(res, 'req_hostile01', { 'content-encoding': 'gzip' });
        const gzip = createGzip();
        gzip.on('data', (chunk: Buffer) => res.write(chunk));
        gzip.write(messageStart() + BLOCK_START + delta('Hi'));
        gzip.flush(constants.Z_SYNC_FLUSH, () => {
          // 0x07: a deflate block of the reserved type. Sent on an open connection: undici (Node 20)
          // never settles a body whose decoding fails as the response ends (the idle timeout covers that).
          setTimeout(() => res.write(Buffer.from([0x07, 0x07, 0x07, 0x07])), 30);
        });
      });

      const response = await send(s, route);
      const events = await readSse(response);

      expect(response.status).toBe(200);
      const error = json<{ error: { type: string; message: string } }>(events.at(-1)).error;
      expect(error.type).toBe('api_error');
      expect(error.message).toContain('could not be decoded');
    });
  });
});

import Anthropic from '@anthropic-ai/sdk';
import { ClaudeGuardError, createClaudeGuard, type ClaudeGuard, type HeaderReader } from '@claude-guard/core';
import { claudeGuardErrorHandler as expressErrorHandler } from '@claude-guard/express';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { claudeGuardErrorHandler as honoErrorHandler } from '@claude-guard/hono';
import { serve } from '@hono/node-server';
import express from 'express';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ADAPTERS, params, startStack, type AdapterName, type Stack, type TestGuardOptions } from '../support/index.js';

// A guard configured with a correlation header of its own: every answer, error paths included,
// must carry the id under that name, never under the default `x-request-id`.
const HEADER = 'x-correlation-id';
const GENERATED_ID = /^cg_[A-Za-z0-9_-]{24}$/;
const MAX_BODY_BYTES = 2048;
// Opens on the first failure and stays open for the rest of the test.
const TRIGGER_HAPPY_BREAKER = { volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeout: 60_000 };

interface ErrorBody {
  type: string;
  error: { type: string; message: string };
  request_id: string;
}

/**
 * Asserts the answer is Anthropic-shaped and correlated under the configured header only: the
 * header holds `incoming` (or a generated id), the body's `request_id` and `request-id` (unless an
 * upstream answered with its own) are the same id.
 */
async function expectCorrelated(response: Response, status: number, incoming: string | undefined): Promise<ErrorBody> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  const body = JSON.parse(text) as ErrorBody;
  expect(body.type).toBe('error');
  const id = response.headers.get(HEADER);
  if (incoming === undefined) expect(id).toMatch(GENERATED_ID);
  else expect(id).toBe(incoming);
  expect(body.request_id).toBe(id);
  expect(body.request_id).not.toBe('unknown');
  expect(response.headers.get('x-request-id')).toBeNull();
  // What an Anthropic SDK reads as the request id: the upstream's when one answered, else the same id.
  expect(response.headers.get('request-id')).toBe(response.headers.get('x-upstream-request-id') ?? id);
  return body;
}

function post(h: Stack, path: string, body: string, headers: Record<string, string>): Promise<Response> {
  return h.post(path, body, { headers });
}

const valid = (extra: Record<string, unknown> = {}): string => JSON.stringify({ ...params('hello'), ...extra });

interface PathCase {
  name: string;
  status: number;
  errorType: string;
  /** Guard options for the case. */
  guard?: TestGuardOptions;
  /** Sends the request (after any setup), with `headers` added. */
  send: (h: Stack, headers: Record<string, string>) => Promise<Response>;
  /** Runs before `send`, e.g. to queue upstream faults or open the breaker. */
  setup?: (h: Stack) => Promise<void>;
  /** Limits a case to the adapter where the path exists. */
  only?: AdapterName;
}

const CASES: PathCase[] = [
  {
    name: 'passthrough 400 (a body the API would refuse)',
    status: 400,
    errorType: 'invalid_request_error',
    send: (h, headers) => post(h, '/v1/messages', valid({ max_tokens: 0 }), headers),
  },
  {
    name: 'passthrough 400 (not JSON)',
    status: 400,
    errorType: 'invalid_request_error',
    // Express: the passthrough's own parse error (no body-parser in front of it).
    send: (h, headers) => post(h, '/v1/messages', '{"model": ', headers),
  },
  {
    name: 'passthrough 413',
    status: 413,
    errorType: 'request_too_large',
    send: (h, headers) =>
      post(h, '/v1/messages', valid({ metadata: { user_id: 'x'.repeat(MAX_BODY_BYTES) } }), headers),
  },
  {
    name: 'passthrough 415',
    status: 415,
    errorType: 'invalid_request_error',
    send: (h, headers) => post(h, '/v1/messages', valid(), { ...headers, 'content-type': 'text/plain' }),
  },
  {
    name: 'passthrough deadline 400 (malformed header)',
    status: 400,
    errorType: 'invalid_request_error',
    send: (h, headers) => post(h, '/v1/messages', valid(), { ...headers, 'x-request-timeout-ms': 'soon' }),
  },
  {
    name: 'passthrough deadline 504 (spent header)',
    status: 504,
    errorType: 'timeout_error',
    send: (h, headers) => post(h, '/v1/messages', valid(), { ...headers, 'x-request-timeout-ms': '0' }),
  },
  {
    name: 'guarded route deadline 400 (malformed header)',
    status: 400,
    errorType: 'invalid_request_error',
    send: (h, headers) => post(h, '/chat', '{"message":"hi"}', { ...headers, 'x-request-timeout-ms': 'soon' }),
  },
  {
    name: 'guarded route deadline 504 (spent header)',
    status: 504,
    errorType: 'timeout_error',
    send: (h, headers) => post(h, '/chat', '{"message":"hi"}', { ...headers, 'x-request-timeout-ms': '0' }),
  },
  {
    name: 'passthrough breaker 503',
    status: 503,
    errorType: 'overloaded_error',
    guard: { breaker: TRIGGER_HAPPY_BREAKER, retry: { maxAttempts: 1 } },
    setup: async (h) => {
      h.fake.enqueue(529);
      expect((await post(h, '/v1/messages', valid(), {})).status).toBe(529);
    },
    send: (h, headers) => post(h, '/v1/messages', valid(), headers),
  },
  {
    name: 'guarded route breaker 503 (through the error handler)',
    status: 503,
    errorType: 'overloaded_error',
    guard: { breaker: TRIGGER_HAPPY_BREAKER, retry: { maxAttempts: 1 } },
    setup: async (h) => {
      h.fake.enqueue(529);
      expect((await post(h, '/chat', '{"message":"hi"}', {})).status).toBe(529);
    },
    send: (h, headers) => post(h, '/chat', '{"message":"hi"}', headers),
  },
  {
    name: 'passthrough upstream 529 after retries',
    status: 529,
    errorType: 'overloaded_error',
    setup: async (h) => Promise.resolve(h.fake.enqueue(529, 529, 529)),
    send: (h, headers) => post(h, '/v1/messages', valid(), headers),
  },
  {
    name: 'passthrough upstream 400',
    status: 400,
    errorType: 'invalid_request_error',
    setup: async (h) => Promise.resolve(h.fake.enqueue(400)),
    send: (h, headers) => post(h, '/v1/messages', valid(), headers),
  },
  {
    name: 'guarded route upstream 529 after retries (through the error handler)',
    status: 529,
    errorType: 'overloaded_error',
    setup: async (h) => Promise.resolve(h.fake.enqueue(529, 529, 529)),
    send: (h, headers) => post(h, '/chat', '{"message":"hi"}', headers),
  },
  {
    name: 'guarded route upstream 400 (through the error handler)',
    status: 400,
    errorType: 'invalid_request_error',
    setup: async (h) => Promise.resolve(h.fake.enqueue(400)),
    send: (h, headers) => post(h, '/chat', '{"message":"hi"}', headers),
  },
  {
    name: 'passthrough stream failing before its commit',
    status: 529,
    errorType: 'overloaded_error',
    setup: async (h) => Promise.resolve(h.fake.enqueue(529, 529, 529)),
    send: (h, headers) => post(h, '/v1/messages', valid({ stream: true }), headers),
  },
  {
    name: 'guarded route stream failing before its commit',
    status: 529,
    errorType: 'overloaded_error',
    setup: async (h) => Promise.resolve(h.fake.enqueue(529, 529, 529)),
    send: (h, headers) => post(h, '/chat', '{"message":"hi","stream":true}', headers),
  },
  {
    name: "Express body-parser's parse error in front of a guarded route",
    status: 400,
    errorType: 'invalid_request_error',
    only: 'express',
    send: (h, headers) => post(h, '/chat', '{"message": ', headers),
  },
  {
    name: "Express body-parser's size limit in front of a guarded route",
    status: 413,
    errorType: 'request_too_large',
    only: 'express',
    // express.json()'s default limit is 100 KiB.
    send: (h, headers) => post(h, '/chat', JSON.stringify({ message: 'x'.repeat(200 * 1024) }), headers),
  },
  {
    name: 'a foreign error thrown in a guarded Hono route (its JSON read fails)',
    status: 500,
    errorType: 'api_error',
    only: 'hono',
    send: (h, headers) => post(h, '/chat', '{"message": ', headers),
  },
];

describe.each(ADAPTERS)('requestIdHeader on every error path (%s)', (adapter) => {
  let h: Stack | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const cases = CASES.filter((entry) => entry.only === undefined || entry.only === adapter);
  describe.each(cases)('$name', (entry) => {
    it.each([
      ['echoes a valid incoming id', 'corr-42_A.b'],
      ['generates one when none came', undefined],
    ])('%s under the configured header, and in the body', async (_how, incoming) => {
      h = await startStack({
        adapter,
        // Express's body-parser on the guarded routes (see the cases); an app-wide one fails before
        // Express has matched a route, and is the guard's to answer only with `allRoutes`.
        guard: { requestIdHeader: HEADER, proxy: { maxBodyBytes: MAX_BODY_BYTES }, ...entry.guard },
      });
      await entry.setup?.(h);
      const response = await entry.send(h, incoming === undefined ? {} : { [HEADER]: incoming });
      const body = await expectCorrelated(response, entry.status, incoming);
      expect(body.error.type).toBe(entry.errorType);
    });
  });

  it('never reads an incoming x-request-id as the correlation id', async () => {
    h = await startStack({ adapter, guard: { requestIdHeader: HEADER } });
    const response = await post(h, '/v1/messages', valid({ max_tokens: 0 }), { 'x-request-id': 'not-ours' });
    const body = await expectCorrelated(response, 400, undefined);
    expect(body.request_id).not.toBe('not-ours');
  });
});

// The error handlers outside any guarded route: a plain route throwing, `guard.run` failing in one.
describe.each(ADAPTERS)('error handler outside guarded routes (%s)', (adapter) => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function start(): Promise<{ base: string; fake: FakeAnthropic }> {
    const fake = await createFakeAnthropic();
    const guard = createClaudeGuard({
      client: new Anthropic({ apiKey: 'k', baseURL: fake.url }),
      requestIdHeader: HEADER,
      retry: { maxAttempts: 1 },
    });
    const server = adapter === 'express' ? await expressApp(guard, fake.url) : await honoApp(guard, fake.url);
    close = async () => {
      guard.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await fake.close();
    };
    return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, fake };
  }

  const thrown: [string, string, number, string][] = [
    ['a ClaudeGuardError built by the app', '/refuse', 409, 'conflict_error'],
    ['a guard.run failure', '/run', 529, 'overloaded_error'],
  ];

  it.each(thrown)('answers %s under the configured header', async (_what, path, status, errorType) => {
    const { base, fake } = await start();
    for (const incoming of ['corr-7', undefined]) {
      fake.enqueue(529);
      const response = await fetch(`${base}${path}`, { headers: incoming === undefined ? {} : { [HEADER]: incoming } });
      const body = await expectCorrelated(response, status, incoming);
      expect(body.error.type).toBe(errorType);
      // Nothing of a foreign error's own text reaches the client.
      expect(body.error.message).not.toContain('secret detail');
    }
  });

  // Other errors outside the guard's routes are the app's: Express's next handler, Hono's `otherRoutes`.
  it('passes a foreign error outside guarded routes on to the next error handler', async () => {
    const { base } = await start();
    const response = await fetch(`${base}/boom`);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('next handler: secret detail');
  });
});

/** Plain routes (no `claudeGuard`) whose errors only the error handler answers. */
function routesThatThrow(
  guard: ClaudeGuard,
  fakeUrl: string,
): Record<string, (headers: HeaderReader) => Promise<unknown>> {
  const client = new Anthropic({ apiKey: 'k', baseURL: fakeUrl, maxRetries: 0 });
  return {
    '/boom': () => Promise.reject(new Error('secret detail')),
    '/refuse': () =>
      Promise.reject(
        new ClaudeGuardError({ status: 409, type: 'conflict_error', message: 'Busy', outcome: 'bad-request' }),
      ),
    // The incoming headers go to guard.run, so its error is tagged with the caller's id.
    '/run': (headers) =>
      guard.run('job', ({ signal, timeout }) => client.messages.create(params('hi'), { signal, timeout }), {
        headers,
      }),
  };
}

async function expressApp(guard: ClaudeGuard, fakeUrl: string): Promise<Server> {
  const app = express();
  for (const [path, fail] of Object.entries(routesThatThrow(guard, fakeUrl))) {
    app.get(path, async (req) => {
      await fail({ get: (name) => req.get(name) ?? null });
    });
  }
  app.use(expressErrorHandler(guard));
  app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(500).send(`next handler: ${error.message}`);
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

async function honoApp(guard: ClaudeGuard, fakeUrl: string): Promise<Server> {
  const app = new Hono();
  for (const [path, fail] of Object.entries(routesThatThrow(guard, fakeUrl))) {
    app.get(path, async (c) => {
      await fail(c.req.raw.headers);
      return c.text('unreachable');
    });
  }
  app.onError(honoErrorHandler(guard, { otherRoutes: (error, c) => c.text(`next handler: ${error.message}`, 500) }));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

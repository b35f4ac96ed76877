import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, type ClaudeGuard } from '@claude-guard/core';
import * as guardExpress from '@claude-guard/express';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import * as guardHono from '@claude-guard/hono';
import { serve } from '@hono/node-server';
import express from 'express';
import express4 from 'express4';
import type { NextFunction, Request as ExpressRequest, Response as ExpressResponse } from 'express';
import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { HTTPException } from 'hono/http-exception';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ALL_ADAPTERS,
  API_KEY,
  expectAnthropicError,
  params,
  readResult,
  useProcessWatch,
  type AdapterName,
  type HttpResult,
} from '../support/index.js';

// Errors keep their meaning (issue 12, point 1). A framework's HTTP error (Hono's HTTPException, bearerAuth's
// 401; an Express error with a 4xx `status` and `expose`, here http-errors' own) keeps its status and text:
// Anthropic-shaped on the guard's own routes (a guarded route, the passthrough, middleware in front of either
// on the same route), the framework's own answer elsewhere. Errors of other routes are left to the app's other
// handlers unless the guard's handler is given `allRoutes: true`. An unexpected error (a TypeError in a
// handler) becomes the sanitized 500 and is logged once, at error level, with its stack, through the guard's
// logger, never to the client.

/** http-errors, the library Express itself and body-parser build their errors with (resolved from express). */
type CreateHttpError = (status: number, message?: string, props?: Record<string, unknown>) => Error;
const createHttpError = createRequire(createRequire(import.meta.url).resolve('express'))(
  'http-errors',
) as CreateHttpError;

const TOKEN = 'let-me-in';
const UNEXPECTED = 'claude-guard unexpected error';

interface LogLine {
  level: 'info' | 'warn' | 'error';
  record: Record<string, unknown>;
  message: string | undefined;
}

interface MeaningApp {
  base: string;
  fake: FakeAnthropic;
  logs: LogLine[];
  close(): Promise<void>;
}

/** The handlers' own failures, in the adapter's framework. */
interface Failures {
  /** A 4xx with a message meant for the client. */
  forbidden(message: string): Error;
  /** A 418 with no message of its own. */
  teapot(): Error;
  /** A deliberate 503. */
  unavailable(message: string): Error;
}

const expressFailures: Failures = {
  forbidden: (message) => createHttpError(403, message),
  teapot: () => createHttpError(418),
  unavailable: (message) => createHttpError(503, message),
};

const honoFailures: Failures = {
  forbidden: (message) => new HTTPException(403, { message }),
  teapot: () => new HTTPException(418),
  unavailable: (message) => new HTTPException(503, { message }),
};

/** A handler bug: a real TypeError, thrown from a named function so its stack can be checked. */
function chatHandlerBug(): never {
  const body = JSON.parse('null') as { messages: unknown[] };
  body.messages.push(API_KEY);
  throw new Error('unreachable');
}

/** A bug inside `claude.run(fn)`: the guard sees it first (it is the attempt's own error), not the framework. */
async function runCallbackBug(): Promise<never> {
  await Promise.resolve();
  chatHandlerBug();
}

async function startMeaningApp(adapter: AdapterName, allRoutes: boolean): Promise<MeaningApp> {
  const fake = await createFakeAnthropic();
  const logs: LogLine[] = [];
  const log = (level: LogLine['level']) => (record: object, message?: string) =>
    logs.push({ level, record: record as Record<string, unknown>, message });
  const guard = createClaudeGuard({
    client: new Anthropic({ apiKey: API_KEY, baseURL: fake.url }),
    retry: { maxAttempts: 1 },
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
  });
  const server = adapter === 'hono' ? await honoApp(guard, allRoutes) : await expressApp(adapter, guard, allRoutes);
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    fake,
    logs,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      guard.close();
      await fake.close();
    },
  };
}

async function expressApp(adapter: AdapterName, guard: ClaudeGuard, allRoutes: boolean): Promise<Server> {
  const { claudeGuard, claudeGuardErrorHandler, claudeProxy, guarded } = guardExpress;
  const create = adapter === 'express4' ? express4 : express;
  const fail = expressFailures;
  const app = create();
  // App-wide middleware fails before Express has matched any route.
  app.use('/early', (_req, _res, next) => next(createHttpError(400, 'Refused before routing')));
  const requireToken = (req: ExpressRequest, _res: ExpressResponse, next: NextFunction) =>
    next(
      req.get('authorization') === `Bearer ${TOKEN}`
        ? undefined
        : createHttpError(401, 'Missing or wrong bearer token', { headers: { 'WWW-Authenticate': 'Bearer' } }),
    );
  app.post('/v1/messages', requireToken, claudeProxy(guard, { route: 'proxy' }));
  app.post(
    '/g/auth',
    requireToken,
    claudeGuard(guard, { route: 'auth' }),
    guarded((_req, res) => res.json({ ok: true })),
  );
  app.post(
    '/g/http',
    claudeGuard(guard, { route: 'http' }),
    guarded(async () => Promise.reject(fail.forbidden('You may not do that'))),
  );
  app.post(
    '/g/teapot',
    claudeGuard(guard, { route: 'teapot' }),
    guarded(() => {
      throw fail.teapot();
    }),
  );
  app.post(
    '/g/unavailable',
    claudeGuard(guard, { route: 'unavailable' }),
    guarded(async () => Promise.reject(fail.unavailable('Down for maintenance'))),
  );
  app.post('/g/bug', claudeGuard(guard, { route: 'bug' }), guarded(chatHandlerBug));
  app.post(
    '/g/run-bug',
    claudeGuard(guard, { route: 'run-bug' }),
    guarded(async (req, res) => {
      res.json(await req.claude.run(runCallbackBug));
    }),
  );
  app.post(
    '/g/upstream',
    claudeGuard(guard, { route: 'upstream' }),
    // Express 4 does not catch this handler's rejection: guarded() must.
    guarded(async (req, res) => {
      res.json(await req.claude.messages.create(params('hi')));
    }),
  );
  // A mistake: guarded() without claudeGuard() in front of it.
  app.post(
    '/plain/unguarded',
    guarded((req, res) => res.json({ id: req.claude.requestId })),
  );
  app.get('/plain/http', (_req, _res, next) => next(fail.forbidden('Not yours')));
  app.get('/plain/bug', () => {
    throw new TypeError('plain bug');
  });
  app.use(claudeGuardErrorHandler(guard, allRoutes ? { allRoutes: true } : {}));
  // The app's own error handler, after the guard's.
  app.use((error: Error & { status?: number }, _req: ExpressRequest, res: ExpressResponse, _next: NextFunction) => {
    res
      .status(error.status ?? 500)
      .type('text')
      .send(`next handler: ${error.message}`);
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

async function honoApp(guard: ClaudeGuard, allRoutes: boolean): Promise<Server> {
  const { claudeGuard, claudeGuardErrorHandler, claudeProxy } = guardHono;
  const fail = honoFailures;
  const app = new Hono();
  app.onError(claudeGuardErrorHandler(guard, allRoutes ? { allRoutes: true } : {}));
  app.post('/v1/messages', bearerAuth({ token: TOKEN }), claudeProxy(guard, { route: 'proxy' }));
  // Middleware on a pattern: Hono matched the passthrough's route too, so the 401 is the guard's.
  app.use('/pattern/*', bearerAuth({ token: TOKEN }));
  app.post('/pattern/v1/messages', claudeProxy(guard, { route: 'pattern-proxy' }));
  app.post('/g/auth', bearerAuth({ token: TOKEN }), claudeGuard(guard, { route: 'auth' }), (c) => c.json({ ok: true }));
  app.post('/g/http', claudeGuard(guard, { route: 'http' }), () =>
    Promise.reject(fail.forbidden('You may not do that')),
  );
  app.post('/g/teapot', claudeGuard(guard, { route: 'teapot' }), () => {
    throw fail.teapot();
  });
  app.post('/g/unavailable', claudeGuard(guard, { route: 'unavailable' }), () =>
    Promise.reject(fail.unavailable('Down for maintenance')),
  );
  app.post('/g/bug', claudeGuard(guard, { route: 'bug' }), chatHandlerBug);
  app.post('/g/run-bug', claudeGuard(guard, { route: 'run-bug' }), async (c) =>
    c.json(await c.var.claude.run(runCallbackBug)),
  );
  app.post('/g/upstream', claudeGuard(guard, { route: 'upstream' }), async (c) =>
    c.json(await c.var.claude.messages.create(params('hi'))),
  );
  app.get('/plain/http', () => {
    throw fail.forbidden('Not yours');
  });
  app.get('/plain/bug', () => {
    throw new TypeError('plain bug');
  });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

const send = async (app: MeaningApp, method: 'GET' | 'POST', path: string, headers: Record<string, string> = {}) =>
  readResult(
    await fetch(`${app.base}${path}`, {
      method,
      headers: method === 'POST' ? { 'content-type': 'application/json', ...headers } : headers,
      ...(method === 'POST' ? { body: '{}' } : {}),
    }),
  );

const unexpectedLines = (app: MeaningApp) => app.logs.filter((line) => line.message === UNEXPECTED);
const requestLine = (app: MeaningApp, route: string) =>
  app.logs.find((line) => line.message === 'claude-guard request' && line.record['route'] === route)?.record;

/** The answer is Anthropic-shaped, with `status`, `type` and `message`, under the request's own id. */
function expectAnthropic(result: HttpResult, status: number, type: string, message: string): void {
  expect(result.status, result.text).toBe(status);
  const error = expectAnthropicError(result);
  expect(error.type).toBe(type);
  expect(error.message).toBe(message);
  expect(result.headers.get('x-request-id')).toBe(result.body.request_id);
}

describe.each(ALL_ADAPTERS)('errors keep their meaning (%s)', (adapter) => {
  let app: MeaningApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  const watch = useProcessWatch();
  const start = async (allRoutes = false) => (app = await startMeaningApp(adapter, allRoutes));

  describe('on the guard’s own routes: Anthropic-shaped, with the error’s own status and text', () => {
    it('a 4xx thrown by a guarded handler', async () => {
      const h = await start();
      const result = await send(h, 'POST', '/g/http');
      expectAnthropic(result, 403, 'permission_error', 'You may not do that');
      expect(requestLine(h, 'http')).toMatchObject({ status: 403, outcome: 'bad-request' });
      expect(unexpectedLines(h)).toEqual([]);
    });

    it('a 4xx without a message of its own gets the status’s reason phrase', async () => {
      const h = await start();
      const result = await send(h, 'POST', '/g/teapot');
      expect(result.status).toBe(418);
      expect(expectAnthropicError(result).type).toBe('invalid_request_error');
      expect(expectAnthropicError(result).message).toMatch(/^I'm a teapot$/i);
    });

    it('a deliberate 5xx keeps its status, and is logged once at error level', async () => {
      const h = await start();
      const result = await send(h, 'POST', '/g/unavailable');
      // Express exposes no 5xx message (http-errors' `expose` is false); Hono sends an HTTPException's own.
      expectAnthropic(result, 503, 'api_error', adapter === 'hono' ? 'Down for maintenance' : 'Service Unavailable');
      expect(unexpectedLines(h).map((line) => line.level)).toEqual(['error']);
    });

    it('a 401 from auth middleware in front of the guard on the same route, with its headers', async () => {
      const h = await start();
      const result = await send(h, 'POST', '/g/auth');
      expect(result.status).toBe(401);
      expect(expectAnthropicError(result).type).toBe('authentication_error');
      expect(expectAnthropicError(result).message).toBe(
        adapter === 'hono' ? 'Unauthorized' : 'Missing or wrong bearer token',
      );
      expect(result.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await send(h, 'POST', '/g/auth', { authorization: `Bearer ${TOKEN}` })).body).toEqual({ ok: true });
    });

    it('a 401 in front of the passthrough reaches the official SDK as its AuthenticationError', async () => {
      const h = await start();
      const client = new Anthropic({ apiKey: 'unused', baseURL: h.base, maxRetries: 0 });
      const error = await client.messages.create(params('hi')).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
      expect((error as InstanceType<typeof Anthropic.AuthenticationError>).status).toBe(401);
      expect(h.fake.requests).toHaveLength(0);
      const allowed = new Anthropic({ apiKey: 'unused', baseURL: h.base, maxRetries: 0, authToken: null });
      const reply = await allowed.messages.create(params('hi'), { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(reply.type).toBe('message');
    });

    if (adapter === 'hono') {
      it('a 401 from middleware on a pattern the passthrough’s route also matches', async () => {
        const h = await start();
        const result = await send(h, 'POST', '/pattern/v1/messages');
        expectAnthropic(result, 401, 'authentication_error', 'Unauthorized');
        expect(result.headers.get('www-authenticate')).toMatch(/^Bearer/);
      });
    }

    it("the guard's own errors are unchanged, and never logged as unexpected", async () => {
      const h = await start();
      h.fake.enqueue(529);
      const result = await send(h, 'POST', '/g/upstream');
      expect(result.status).toBe(529);
      expect(expectAnthropicError(result).type).toBe('overloaded_error');
      expect(unexpectedLines(h)).toEqual([]);
      // Express 4 would have let the handler's rejection go unhandled (and the process die) without guarded().
      expect(watch.unhandled).toEqual([]);
      expect((await send(h, 'POST', '/g/upstream')).status).toBe(200);
    });
  });

  describe('an unexpected error in a guarded handler', () => {
    it('becomes the sanitized 500, logged once at error level with its stack, never sent', async () => {
      const h = await start();
      const result = await send(h, 'POST', '/g/bug', { 'x-request-id': 'bug-1' });
      expectAnthropic(result, 500, 'api_error', "Internal error in route 'bug'");
      expect(result.text).not.toMatch(/TypeError|chatHandlerBug|Cannot read/);
      const lines = unexpectedLines(h);
      expect(lines).toHaveLength(1);
      const [line] = lines;
      expect(line?.level).toBe('error');
      expect(line?.record).toMatchObject({ route: 'bug', requestId: 'bug-1', err: { type: 'TypeError' } });
      const err = line?.record['err'] as { message: string; stack: string };
      expect(err.message).toMatch(/Cannot read properties of null/);
      expect(err.stack).toMatch(/^TypeError: .*\n\s+at chatHandlerBug /);
      expect(requestLine(h, 'bug')).toMatchObject({ requestId: 'bug-1', status: 500, outcome: 'internal-error' });
    });

    it('inside claude.run(fn) too: the sanitized 500, the bug logged once at error level with its stack', async () => {
      const h = await start();
      const result = await send(h, 'POST', '/g/run-bug', { 'x-request-id': 'bug-2' });
      expectAnthropic(result, 500, 'api_error', "Internal error in route 'run-bug'");
      expect(result.text).not.toMatch(/TypeError|chatHandlerBug|Cannot read/);
      const lines = unexpectedLines(h);
      expect(lines).toHaveLength(1);
      expect(lines[0]?.level).toBe('error');
      expect(lines[0]?.record).toMatchObject({ route: 'run-bug', requestId: 'bug-2', err: { type: 'TypeError' } });
      const err = lines[0]?.record['err'] as { stack: string };
      expect(err.stack).toMatch(/^TypeError: .*\n\s+at chatHandlerBug /);
      expect(JSON.stringify(h.logs)).not.toContain(API_KEY);
      expect(h.fake.requests).toHaveLength(0);
    });
  });

  describe('on other routes, by default', () => {
    it('a framework HTTP error gets the framework’s own answer (or the app’s next handler)', async () => {
      const h = await start();
      const result = await send(h, 'GET', '/plain/http');
      expect(result.status).toBe(403);
      expect(result.body).toBeUndefined();
      expect(result.text).toBe(adapter === 'hono' ? 'Not yours' : 'next handler: Not yours');
      expect(unexpectedLines(h)).toEqual([]);
    });

    it('an unexpected error is left to the app (Express: its next handler; Hono: Hono’s own 500)', async () => {
      const h = await start();
      const consoleError = vi.spyOn(console, 'error').mockImplementation(() => {});
      const result = await send(h, 'GET', '/plain/bug');
      expect(result.status).toBe(500);
      if (adapter === 'hono') {
        // What Hono answers without an onError of its own: the text, and the error on the console.
        expect(result.text).toBe('Internal Server Error');
        expect(consoleError).toHaveBeenCalledTimes(1);
      } else {
        expect(result.text).toBe('next handler: plain bug');
      }
      expect(unexpectedLines(h)).toEqual([]);
    });

    if (adapter !== 'hono') {
      it('guarded() without claudeGuard() in front of it passes an error on, saying so', async () => {
        const h = await start();
        const result = await send(h, 'POST', '/plain/unguarded');
        expect(result.status).toBe(500);
        expect(result.text).toBe(
          'next handler: claude-guard: guarded(handler) runs only after claudeGuard() on the same route',
        );
      });

      it('an error of app-wide middleware, before Express matched a route, is not known to be the guard’s', async () => {
        const h = await start();
        const result = await send(h, 'GET', '/early');
        expect(result.status).toBe(400);
        expect(result.text).toBe('next handler: Refused before routing');
      });
    }
  });

  describe('on other routes, with allRoutes: true', () => {
    it('a framework HTTP error is answered Anthropic-shaped with its own status and text', async () => {
      const h = await start(true);
      expectAnthropic(await send(h, 'GET', '/plain/http'), 403, 'permission_error', 'Not yours');
      if (adapter !== 'hono') {
        expectAnthropic(await send(h, 'GET', '/early'), 400, 'invalid_request_error', 'Refused before routing');
      }
    });

    it('an unexpected error becomes the sanitized 500, logged once at error level', async () => {
      const h = await start(true);
      const result = await send(h, 'GET', '/plain/bug');
      expectAnthropic(result, 500, 'api_error', 'Internal server error');
      expect(result.text).not.toContain('plain bug');
      expect(unexpectedLines(h).map((line) => [line.level, line.record['err']])).toEqual([
        ['error', expect.objectContaining({ type: 'TypeError', message: 'plain bug' })],
      ]);
    });
  });
});

describe.each(['express', 'hono'] as const)('claudeGuardErrorHandler options (%s)', (adapter) => {
  it('rejects an unknown option, naming it and the known ones', () => {
    const guard = createClaudeGuard({ client: new Anthropic({ apiKey: 'k' }) });
    const handler = adapter === 'hono' ? guardHono.claudeGuardErrorHandler : guardExpress.claudeGuardErrorHandler;
    expect(() => handler(guard, { allRoute: true } as never)).toThrow(/`allRoute`.*allRoutes/);
    guard.close();
  });
});

import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, type ClaudeGuard, type RequestLogRecord, type RouteOptions } from '@claude-guard/core';
import * as guardExpress from '@claude-guard/express';
import * as guardHono from '@claude-guard/hono';
import { serve } from '@hono/node-server';
import express from 'express';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ADAPTERS, params, type AdapterName } from '../streaming/harness.js';
import { healthyMessage, startHostileUpstream, type HostileUpstream } from '../support/hostile-upstream.js';

// Issue 10 item 5, the fallback model: a route's `fallback: { model }` is one more SDK call, and its
// answer must be a Message too. A page from the fallback model is no fallback: the original 502 stands.

const KEY = 'sk-ant-api03-hardening-item-5-fallback';
const MARKER = 'FALLBACK-PAGE-MARKER';
const FALLBACK_MODEL = 'claude-haiku-4-5';
const MAX_ATTEMPTS = 2;
const ROUTE: Omit<RouteOptions, 'route'> = {
  fallback: { model: FALLBACK_MODEL },
  retry: { maxAttempts: MAX_ATTEMPTS },
};

/** The first log line, once written (an adapter may write it just after the response). */
async function firstLog(app: App): Promise<RequestLogRecord> {
  for (let i = 0; i < 500 && app.logs.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  const line = app.logs[0];
  if (!line) throw new Error('no log line was written');
  return line;
}

interface App {
  base: string;
  guard: ClaudeGuard;
  logs: RequestLogRecord[];
  close(): Promise<void>;
}

async function startApp(adapter: AdapterName, upstreamUrl: string): Promise<App> {
  const logs: RequestLogRecord[] = [];
  const guard = createClaudeGuard({
    client: new Anthropic({ apiKey: KEY, baseURL: upstreamUrl }),
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    logger: { info: (record) => logs.push(record as RequestLogRecord) },
  });
  let server: Server;
  if (adapter === 'express') {
    const app = express();
    app.post('/v1/messages', guardExpress.claudeProxy(guard, { route: 'proxy', ...ROUTE }));
    app.post(
      '/chat',
      express.json(),
      guardExpress.claudeGuard(guard, { route: 'chat', ...ROUTE }),
      async (req, res) => {
        const message = await req.claude.messages.create(params());
        res.json({ text: message.content.map((block) => (block.type === 'text' ? block.text : '')).join('') });
      },
    );
    app.use(guardExpress.claudeGuardErrorHandler(guard));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
  } else {
    const app = new Hono<{ Variables: guardHono.ClaudeGuardVariables }>();
    app.post('/v1/messages', guardHono.claudeProxy(guard, { route: 'proxy', ...ROUTE }));
    app.post('/chat', guardHono.claudeGuard(guard, { route: 'chat', ...ROUTE }), async (c) => {
      const message = await c.var.claude.messages.create(params());
      return c.json({ text: message.content.map((block) => (block.type === 'text' ? block.text : '')).join('') });
    });
    app.onError(guardHono.claudeGuardErrorHandler(guard));
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  }
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    guard,
    logs,
    async close() {
      guard.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const PATHS = [
  { path: '/v1/messages', body: () => params() },
  { path: '/chat', body: () => ({ message: 'hi' }) },
] as const;

describe.each(ADAPTERS)('%s: the fallback model answers with something that is not a Message', (adapter) => {
  let upstream: HostileUpstream | undefined;
  let app: App | undefined;
  afterEach(async () => {
    await app?.close();
    await upstream?.close();
    app = undefined;
    upstream = undefined;
  });

  describe.each(PATHS)('$path', ({ path, body }) => {
    it('a page from every model: the 502 stands, nothing of the page is forwarded', async () => {
      upstream = await startHostileUpstream(({ res, key }) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<html>${MARKER} ${key}</html>`);
      });
      app = await startApp(adapter, upstream.url);

      const response = await fetch(`${app.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body()),
      });
      const text = await response.text();
      expect(response.status).toBe(502);
      expect(JSON.parse(text)).toMatchObject({
        type: 'error',
        error: { type: 'api_error', message: expect.stringContaining('with something that is not a Message') },
      });
      // The route's attempts, then the one fallback call.
      expect(upstream.requests()).toBe(MAX_ATTEMPTS + 1);
      expect(await firstLog(app)).toMatchObject({ status: 502, outcome: 'upstream-error' });
      const seen = [text, JSON.stringify(app.logs)].join('\n');
      expect(seen).not.toContain(KEY);
      expect(seen).not.toContain(MARKER);
    });

    it('pages from the route model, a Message from the fallback model: the fallback answers', async () => {
      upstream = await startHostileUpstream(({ res, body: sent }) => {
        if ((JSON.parse(sent) as { model: string }).model === FALLBACK_MODEL) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ...healthyMessage('from the fallback'), model: FALLBACK_MODEL }));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<html>${MARKER}</html>`);
      });
      app = await startApp(adapter, upstream.url);

      const response = await fetch(`${app.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body()),
      });
      expect(response.status).toBe(200);
      const answer = (await response.json()) as { text?: string; content?: { text: string }[] };
      expect(answer.text ?? answer.content?.[0]?.text).toBe('from the fallback');
      expect(upstream.requests()).toBe(MAX_ATTEMPTS + 1);
      expect(await firstLog(app)).toMatchObject({ status: 200, outcome: 'fallback', model: FALLBACK_MODEL });
    });
  });
});

// The server under test, in its own process: one Express and one Hono app with the same routes,
// guarded and unguarded, all calling the upstream (fake-anthropic) through the real SDK.
//
//   POST /bare/chat          handler calls the SDK directly (maxRetries from the config)
//   POST /guard/chat         the same handler under claudeGuard (req.claude / c.var.claude)
//   POST /v1/messages        claudeProxy, the Anthropic-compatible passthrough
//   POST /naive/v1/messages  (Express only) a naive SDK passthrough: `for await (ev of stream) res.write(...)`
//   POST /observed/chat      (with `telemetry`) /guard/chat on a second guard with spans and metrics on
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, type ClaudeGuardOptions } from '@claude-guard/core';
import * as guardExpress from '@claude-guard/express';
import * as guardHono from '@claude-guard/hono';
import { serve } from '@hono/node-server';
import express, { type ErrorRequestHandler } from 'express';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { childConfig, serveParent } from '../lib/ipc.js';
import { chatParams, textOf } from '../lib/fixtures.js';
import { benchTelemetry } from '../lib/telemetry.js';

export interface ServerConfig {
  upstream: string;
  /** `maxRetries` of the unguarded routes' client; omitted: the SDK's default (2). */
  bareMaxRetries?: number;
  /** Guard options (JSON-serializable groups only). */
  guard?: Omit<ClaudeGuardOptions, 'client' | 'logger' | 'onEvent' | 'clock' | 'random'>;
  /** Also serve `/observed/chat`: the guarded route on a guard with telemetry on (scenario 8). */
  telemetry?: boolean;
  /**
   * Serve only this one of the chat routes (`/bare/chat`, `/guard/chat`, `/observed/chat`), for a
   * throughput run with one variant per process: a real app runs one of them, and sharing a process
   * makes the SDK's code see several call shapes (polymorphic) and every variant share one heap.
   */
  only?: ChatVariant;
}

/** The chat routes: unguarded, guarded, guarded with telemetry. */
export type ChatVariant = 'bare' | 'guard' | 'observed';

export interface ServerReady {
  express: string;
  hono: string;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

const config = childConfig<ServerConfig>();
const bare = new Anthropic({
  apiKey: 'bench-key',
  baseURL: config.upstream,
  ...(config.bareMaxRetries !== undefined && { maxRetries: config.bareMaxRetries }),
});
const guard = createClaudeGuard({
  ...config.guard,
  client: new Anthropic({ apiKey: 'bench-key', baseURL: config.upstream }),
});

// Scenario 7: the same guard options, with spans (the real OTel SDK, exported to nowhere) and metrics.
const serves = (variant: ChatVariant): boolean => config.only === undefined || config.only === variant;
const telemetry = (config.telemetry ?? config.only === 'observed') && serves('observed') ? benchTelemetry() : undefined;
const observed = telemetry
  ? createClaudeGuard({
      ...config.guard,
      client: new Anthropic({ apiKey: 'bench-key', baseURL: config.upstream }),
      instrumentation: telemetry.instrumentation,
    })
  : undefined;
if (observed) telemetry?.observe(observed);

// Unguarded errors: a short JSON answer with the upstream's status (Express's default would be an HTML page).
const bareErrors: ErrorRequestHandler = (error: { status?: unknown }, _req, res, next) => {
  if (res.headersSent) {
    next(error);
    return;
  }
  res
    .status(typeof error.status === 'number' ? error.status : 502)
    .json({ type: 'error', error: { type: 'api_error', message: 'upstream failed' } });
};

const app = express();
if (serves('bare')) {
  app.post('/bare/chat', express.json(), async (req, res) => {
    const message = await bare.messages.create(chatParams(String(req.body.message)));
    res.json({ text: textOf(message) });
  });
}
if (serves('guard')) {
  app.post(
    '/guard/chat',
    express.json(),
    guardExpress.claudeGuard(guard, { route: 'express-chat' }),
    guardExpress.guarded(async (req, res) => {
      const message = await req.claude.messages.create(chatParams(String(req.body.message)));
      res.json({ text: textOf(message) });
    }),
  );
}
app.post('/v1/messages', guardExpress.claudeProxy(guard, { route: 'express-proxy' }));
app.post('/naive/v1/messages', express.json({ limit: '1mb' }), async (req, res) => {
  const body = req.body as Anthropic.MessageCreateParamsStreaming;
  const stream = await bare.messages.create({ ...body, stream: true });
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for await (const event of stream) res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  res.end();
});
if (observed) {
  app.post(
    '/observed/chat',
    express.json(),
    guardExpress.claudeGuard(observed, { route: 'express-chat' }),
    guardExpress.guarded(async (req, res) => {
      const message = await req.claude.messages.create(chatParams(String(req.body.message)));
      res.json({ text: textOf(message) });
    }),
  );
}
app.use(guardExpress.claudeGuardErrorHandler(guard));
app.use(bareErrors);

const hono = new Hono<{ Variables: guardHono.ClaudeGuardVariables }>();
if (serves('bare')) {
  hono.post('/bare/chat', async (c) => {
    const body = await c.req.json<{ message: unknown }>();
    const message = await bare.messages.create(chatParams(String(body.message)));
    return c.json({ text: textOf(message) });
  });
}
if (serves('guard')) {
  hono.post('/guard/chat', guardHono.claudeGuard(guard, { route: 'hono-chat' }), async (c) => {
    const body = await c.req.json<{ message: unknown }>();
    const message = await c.var.claude.messages.create(chatParams(String(body.message)));
    return c.json({ text: textOf(message) });
  });
}
hono.post('/v1/messages', guardHono.claudeProxy(guard, { route: 'hono-proxy' }));
if (observed) {
  hono.post('/observed/chat', guardHono.claudeGuard(observed, { route: 'hono-chat' }), async (c) => {
    const body = await c.req.json<{ message: unknown }>();
    const message = await c.var.claude.messages.create(chatParams(String(body.message)));
    return c.json({ text: textOf(message) });
  });
}
hono.onError((error, c) => {
  if (error instanceof Anthropic.APIError && typeof error.status === 'number') {
    return c.json({ type: 'error', error: { type: 'api_error', message: 'upstream failed' } }, error.status as 500);
  }
  return guardHono.claudeGuardErrorHandler(guard)(error, c);
});

const expressServer: Server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => expressServer.once('listening', resolve));
const honoServer = await new Promise<Server>((resolve) => {
  const started = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started as Server));
});
const url = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const gc = (globalThis as { gc?: () => void }).gc;

serveParent(
  { express: url(expressServer), hono: url(honoServer) } satisfies ServerReady,
  {
    /** Memory after a full collection (when started with --expose-gc). */
    memory: (): MemorySample => {
      gc?.();
      gc?.();
      const m = process.memoryUsage();
      return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
    },
    status: () => guard.status(),
    /** The observed guard's Prometheus text (scenario 7 checks that it counted the load). */
    scrape: () => telemetry?.scrape() ?? Promise.resolve(''),
  },
  async () => {
    guard.close();
    observed?.close();
    await telemetry?.close();
    expressServer.closeAllConnections();
    honoServer.closeAllConnections();
    await Promise.all([new Promise((r) => expressServer.close(r)), new Promise((r) => honoServer.close(r))]);
  },
);

import Anthropic from '@anthropic-ai/sdk';
import type { ClaudeGuard, MessageCreateParams, RouteOptions } from '@claude-guard/core';
import * as guardExpress from '@claude-guard/express';
import * as guardHono from '@claude-guard/hono';
import { serve } from '@hono/node-server';
import compression from 'compression';
import express from 'express';
import express4 from 'express4';
import type { NextFunction, Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from 'express';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import { API_KEY } from './guard.js';
import { MODEL, PROMPT, textOf } from './messages.js';

/** The adapters every behaviour is shown for. */
export const ADAPTERS = ['express', 'hono'] as const;
/** Also Express 4 (`express4`), for the cases that show the adapter works there too. */
export const ALL_ADAPTERS = ['express', 'express4', 'hono'] as const;
export type AdapterName = (typeof ALL_ADAPTERS)[number];

/** A Hono app typed with the guard's variables. */
export type GuardedHono = Hono<{ Variables: guardHono.ClaudeGuardVariables }>;

/**
 * A mounted route.
 * - `proxy`: `claudeProxy`.
 * - `chat`: `claudeGuard`, then a handler reading `{ message?, model?, max_tokens?, stream?, via? }`: with
 *   `stream: true` it streams in the `text` format; otherwise it calls `messages.create` (or `claude.run`
 *   when `via` is `'run'`; `'throw'` throws a plain Error) and answers `{ text, request_id }`.
 * - `guard-run`: a plain route calling `guard.run(route, fn, { headers, signal })` with the guard's
 *   client, answering `{ text }`.
 * - `direct`: `claudeGuard`, then a handler that never touches `req.claude`: it calls an SDK client built
 *   once per app with `guard.middleware({ route })` (and the SDK's default `maxRetries`, which the
 *   middleware vetoes), `messages.create` or, with `stream: true`, iterates `messages.stream(...)`, and
 *   answers `{ text }`, plus `error` when the stream's iterator threw.
 */
export interface RouteSpec {
  kind: 'proxy' | 'chat' | 'guard-run' | 'direct';
  path: string;
  options: RouteOptions;
}

export interface AppOptions {
  adapter: AdapterName;
  guard: ClaudeGuard;
  /** The guard's own SDK client, for `claude.run` and `guard.run`. */
  client: Anthropic;
  routes: readonly RouteSpec[];
  /** Express only: mount `compression()` in front of every route. */
  compression?: boolean | undefined;
  /**
   * Express only: where `express.json()` is mounted. `routes` (default): on the `chat` and `guard-run`
   * routes only, none in front of the passthrough, as its README says. `app`: once for the whole app, so
   * body-parser reads (and answers errors for) the passthrough's body too.
   */
  expressJson?: 'routes' | 'app' | undefined;
}

export interface App {
  /** Listening on 127.0.0.1, on a free port. */
  readonly server: Server;
  /** The Hono app, for in-process `app.request()` (Hono only). */
  readonly hono: GuardedHono | undefined;
}

/**
 * The SDK client of a `direct` route: the guard's middleware, SDK retries left at their default of 2
 * (the middleware must veto them), pointed where the guard's own client is.
 */
export function directClient(guard: ClaudeGuard, client: Anthropic, route: string): Anthropic {
  return new Anthropic({ apiKey: API_KEY, baseURL: client.baseURL, middleware: [guard.middleware({ route })] });
}

/**
 * A `direct` route's answer: `{ text }`; with `stream: true`, the events' text read through the SDK's
 * iterator, and how the iterator ended: `error` when it threw (its class name, `status`, `type` and
 * message), so a stream that fails after its commit is seen as the SDK's caller sees it.
 */
async function directAnswer(direct: Anthropic, body: ChatBody): Promise<Record<string, unknown>> {
  const params = chatParams(body);
  if (body.stream !== true) return { text: textOf(await direct.messages.create(params)) };
  let text = '';
  try {
    for await (const event of direct.messages.stream(params)) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
    }
  } catch (error) {
    const { status, type } = error as { status?: number; type?: string };
    return { text, error: { name: (error as Error).name, status, type, message: (error as Error).message } };
  }
  return { text };
}

/** `/chat` and `/run` bodies. */
interface ChatBody {
  message?: unknown;
  model?: unknown;
  max_tokens?: unknown;
  stream?: unknown;
  via?: unknown;
}

function chatParams(body: ChatBody): MessageCreateParams {
  // A handler bug, for tests of what clients see then: its message must never reach them.
  if (body.via === 'throw') throw new Error(`handler bug near ${API_KEY}`);
  return {
    model: typeof body.model === 'string' ? body.model : MODEL,
    max_tokens: typeof body.max_tokens === 'number' ? body.max_tokens : 4096,
    messages: [{ role: 'user', content: typeof body.message === 'string' ? body.message : PROMPT }],
  };
}

/**
 * Starts an app with `routes` for the adapter, with the adapter's error handler last.
 *
 * @example
 * ```ts
 * const { server } = await startApp({ adapter: 'hono', guard, client, routes: [{ kind: 'proxy', path: '/v1/messages', options: { route: 'proxy' } }] });
 * ```
 */
export async function startApp(options: AppOptions): Promise<App> {
  if (options.adapter === 'hono') {
    if (options.compression === true) throw new Error('compression() is an Express middleware');
    const hono = buildHono(options);
    return { server: await listenHono(hono), hono };
  }
  return { server: await listenExpress(options), hono: undefined };
}

async function listenExpress(options: AppOptions): Promise<Server> {
  const { guard, client } = options;
  const create = options.adapter === 'express4' ? express4 : express;
  const app = create();
  const jsonOnRoutes = options.expressJson !== 'app';
  if (options.compression === true) app.use(compression());
  if (!jsonOnRoutes) app.use(create.json());
  const json: RequestHandler[] = jsonOnRoutes ? [create.json()] : [];
  // Express 4 does not forward rejected promises to error handlers; Express 5 does. (Guarded routes: guarded().)
  const handle =
    (fn: (req: ExpressRequest, res: ExpressResponse) => Promise<void>): RequestHandler =>
    (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
      fn(req, res).catch(next);
    };
  for (const spec of options.routes) {
    switch (spec.kind) {
      case 'proxy':
        app.post(spec.path, guardExpress.claudeProxy(guard, spec.options));
        break;
      case 'chat':
        app.post(
          spec.path,
          ...json,
          guardExpress.claudeGuard(guard, spec.options),
          guardExpress.guarded(async (req, res) => {
            const body = req.body as ChatBody;
            const params = chatParams(body);
            if (body.stream === true) {
              await req.claude.stream(res, params, { format: 'text' });
              return;
            }
            const message =
              body.via === 'run'
                ? await req.claude.run(({ signal, timeout }) =>
                    client.messages.create(params, { signal, timeout, maxRetries: 0 }),
                  )
                : await req.claude.messages.create(params);
            res.json({ text: textOf(message), request_id: req.claude.requestId });
          }),
        );
        break;
      case 'direct': {
        const direct = directClient(guard, client, spec.options.route);
        app.post(
          spec.path,
          ...json,
          guardExpress.claudeGuard(guard, spec.options),
          guardExpress.guarded(async (req, res) => {
            res.json(await directAnswer(direct, req.body as ChatBody));
          }),
        );
        break;
      }
      case 'guard-run':
        // Registered by name once, so `guard.run(name, ...)` finds the route's options.
        guard.route(spec.options);
        app.post(
          spec.path,
          ...json,
          handle(async (req, res) => {
            const params = chatParams(req.body as ChatBody);
            const message = await guard.run(
              spec.options.route,
              ({ signal, timeout }) => client.messages.create(params, { signal, timeout, maxRetries: 0 }),
              { headers: { get: (name) => req.get(name) ?? null }, signal: guardExpress.closeSignal(res) },
            );
            res.json({ text: textOf(message) });
          }),
        );
        break;
    }
  }
  app.use(guardExpress.claudeGuardErrorHandler(guard));
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return server;
}

function buildHono(options: AppOptions): GuardedHono {
  const { guard, client } = options;
  const app: GuardedHono = new Hono();
  for (const spec of options.routes) {
    switch (spec.kind) {
      case 'proxy':
        app.post(spec.path, guardHono.claudeProxy(guard, spec.options));
        break;
      case 'chat':
        app.post(spec.path, guardHono.claudeGuard(guard, spec.options), async (c) => {
          const body = await c.req.json<ChatBody>();
          const params = chatParams(body);
          const claude = c.var.claude;
          if (body.stream === true) return claude.stream(c, params, { format: 'text' });
          const message =
            body.via === 'run'
              ? await claude.run(({ signal, timeout }) =>
                  client.messages.create(params, { signal, timeout, maxRetries: 0 }),
                )
              : await claude.messages.create(params);
          return c.json({ text: textOf(message), request_id: claude.requestId });
        });
        break;
      case 'direct': {
        const direct = directClient(guard, client, spec.options.route);
        app.post(spec.path, guardHono.claudeGuard(guard, spec.options), async (c) =>
          c.json(await directAnswer(direct, await c.req.json<ChatBody>())),
        );
        break;
      }
      case 'guard-run':
        guard.route(spec.options);
        app.post(spec.path, async (c) => {
          const params = chatParams(await c.req.json<ChatBody>());
          const message = await guard.run(
            spec.options.route,
            ({ signal, timeout }) => client.messages.create(params, { signal, timeout, maxRetries: 0 }),
            { headers: c.req.raw.headers, signal: c.req.raw.signal },
          );
          return c.json({ text: textOf(message) });
        });
        break;
    }
  }
  app.onError(guardHono.claudeGuardErrorHandler(guard));
  return app;
}

async function listenHono(app: GuardedHono): Promise<Server> {
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

import Anthropic from '@anthropic-ai/sdk';
import {
  createClaudeGuard,
  type ClaudeGuard,
  type ClaudeGuardOptions,
  type GuardEvent,
  type MessageCreateParams,
  type RequestLogRecord,
  type RouteOptions,
} from '@claude-guard/core';
import * as guardExpress from '@claude-guard/express';
import { createFakeAnthropic, type FakeAnthropic, type FakeAnthropicOptions } from '@claude-guard/fake-anthropic';
import * as guardHono from '@claude-guard/hono';
import { serve } from '@hono/node-server';
import express from 'express';
import express4 from 'express4';
import type { NextFunction, Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from 'express';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

/** The adapters every case runs against. */
export const ADAPTERS = ['express', 'hono'] as const;
/** Also Express 4 (`express4`), for the cases that show the adapter works there too. */
export const ALL_ADAPTERS = ['express', 'express4', 'hono'] as const;
export type AdapterName = (typeof ALL_ADAPTERS)[number];

/** The key the guard's own client uses; shaped unlike `sk-ant-...` so only the guard's secret list can catch it. */
export const API_KEY = 'test-secret-key-0123456789abcdef';
export const MODEL = 'claude-sonnet-5';
export const FALLBACK_MODEL = 'claude-haiku-4-5';

/**
 * A mounted route. `proxy`: `claudeProxy`. `chat`: `claudeGuard` + `messages.create` (or `claude.run` when the
 * body says `"via": "run"`; `"via": "throw"` throws a plain Error), answering `{ text, request_id }`. `guard-run`: a plain route calling
 * `guard.run(route, fn, { headers, signal })` with the guard's client, answering `{ text }`.
 */
export interface RouteSpec {
  kind: 'proxy' | 'chat' | 'guard-run';
  path: string;
  options: RouteOptions;
}

export interface HarnessOptions {
  /** Guard options merged over the harness's (tiny retry delays, no deadline reserve). */
  guard?: Omit<ClaudeGuardOptions, 'client' | 'logger' | 'onEvent'>;
  /** Overrides for the `proxy` route at `/v1/messages`. */
  proxy?: Omit<RouteOptions, 'route'>;
  /** Overrides for the `chat` route at `/chat`. */
  chat?: Omit<RouteOptions, 'route'>;
  /** Overrides for the `batch` route at `/run`. */
  run?: Omit<RouteOptions, 'route'>;
  /** More routes. */
  routes?: RouteSpec[];
  fake?: FakeAnthropicOptions;
}

export interface LogLine {
  record: RequestLogRecord;
  message: string | undefined;
}

export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body (`undefined` when not JSON). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON that tests read freely
  body: any;
}

export interface Harness {
  readonly adapter: AdapterName;
  readonly fake: FakeAnthropic;
  readonly guard: ClaudeGuard;
  /** The guard's own client, pointed at the fake. */
  readonly client: Anthropic;
  /** `http://127.0.0.1:PORT` of the app. */
  readonly base: string;
  readonly logs: LogLine[];
  readonly events: GuardEvent[];
  /** POSTs JSON (or a raw string) to the app. */
  post(path: string, body: unknown, headers?: Record<string, string>, signal?: AbortSignal): Promise<HttpResult>;
  /** POSTs `{ message }` to `/chat`. */
  chat(headers?: Record<string, string>, body?: Record<string, unknown>): Promise<HttpResult>;
  /** POSTs a valid Messages body to `/v1/messages`. */
  proxy(headers?: Record<string, string>, body?: Record<string, unknown>): Promise<HttpResult>;
  /** Resolves once `count` request log lines have been written. */
  waitForLogs(count: number): Promise<void>;
  close(): Promise<void>;
}

export const PROMPT = 'zebra quokka narwhal';

export function messagesBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, max_tokens: 50, messages: [{ role: 'user', content: PROMPT }], ...overrides };
}

function chatParams(body: Record<string, unknown>): MessageCreateParams {
  // A handler bug, for tests of what clients see then: its message must never reach them.
  if (body.via === 'throw') throw new Error(`handler bug near ${API_KEY}`);
  return {
    model: typeof body.model === 'string' ? body.model : MODEL,
    max_tokens: 50,
    messages: [{ role: 'user', content: typeof body.message === 'string' ? body.message : PROMPT }],
  };
}

function textOf(message: Anthropic.Message): string {
  return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

/** Starts fake-anthropic, a guard and an app on 127.0.0.1 with the given adapter. */
export async function startHarness(adapter: AdapterName, options: HarnessOptions = {}): Promise<Harness> {
  const fake = await createFakeAnthropic(options.fake);
  const client = new Anthropic({ apiKey: API_KEY, baseURL: fake.url });
  const logs: LogLine[] = [];
  const events: GuardEvent[] = [];
  const guardOptions = options.guard ?? {};
  const guard = createClaudeGuard({
    ...guardOptions,
    client,
    retry: { baseDelayMs: 1, maxDelayMs: 5, ...guardOptions.retry },
    deadline: { reserveMs: 0, ...guardOptions.deadline },
    logger: { info: (record, message) => logs.push({ record: record as RequestLogRecord, message }) },
    onEvent: (event) => events.push(event),
  });
  const routes: RouteSpec[] = [
    { kind: 'proxy', path: '/v1/messages', options: { route: 'proxy', ...options.proxy } },
    { kind: 'chat', path: '/chat', options: { route: 'chat', ...options.chat } },
    { kind: 'guard-run', path: '/run', options: { route: 'batch', ...options.run } },
    ...(options.routes ?? []),
  ];

  let server: Server;
  try {
    server =
      adapter === 'hono' ? await startHono(guard, client, routes) : await startExpress(adapter, guard, client, routes);
  } catch (error) {
    guard.close();
    await fake.close();
    throw error;
  }
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const post: Harness['post'] = async (path, body, headers = {}, signal) => {
    const init: RequestInit = {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    };
    if (signal) init.signal = signal;
    const response = await fetch(`${base}${path}`, init);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, text, body: parsed };
  };

  let closed = false;
  return {
    adapter,
    fake,
    guard,
    client,
    base,
    logs,
    events,
    post,
    chat: (headers, body) => post('/chat', { message: PROMPT, ...body }, headers),
    proxy: (headers, body) => post('/v1/messages', messagesBody(body), headers),
    async waitForLogs(count) {
      const started = Date.now();
      while (logs.length < count) {
        if (Date.now() - started > 5_000) throw new Error(`expected ${count} log lines, got ${logs.length}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      guard.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fake.close();
    },
  };
}

/**
 * Registers an `afterEach` that closes whatever the test started, and returns the starter.
 *
 * @example
 * ```ts
 * const start = useHarness();
 * it('works', async () => { const h = await start('express'); ... });
 * ```
 */
export function useHarness(): (adapter: AdapterName, options?: HarnessOptions) => Promise<Harness> {
  const started: Harness[] = [];
  afterEach(async () => {
    for (const harness of started.splice(0)) await harness.close();
  });
  return async (adapter, options) => {
    const harness = await startHarness(adapter, options);
    started.push(harness);
    return harness;
  };
}

async function startExpress(
  adapter: 'express' | 'express4',
  guard: ClaudeGuard,
  client: Anthropic,
  routes: RouteSpec[],
): Promise<Server> {
  const create = adapter === 'express4' ? express4 : express;
  const app = create();
  // Express 4 does not forward rejected promises to error handlers; Express 5 does.
  const handle =
    (fn: (req: ExpressRequest, res: ExpressResponse) => Promise<void>): RequestHandler =>
    (req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
      fn(req, res).catch(next);
    };
  for (const spec of routes) {
    switch (spec.kind) {
      case 'proxy':
        // No body parser: the passthrough reads and validates the raw body itself.
        app.post(spec.path, guardExpress.claudeProxy(guard, spec.options));
        break;
      case 'chat':
        app.post(
          spec.path,
          create.json(),
          guardExpress.claudeGuard(guard, spec.options),
          handle(async (req, res) => {
            const body = req.body as Record<string, unknown>;
            const params = chatParams(body);
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
      case 'guard-run':
        // Registered by name once, so `guard.run(name, ...)` finds the route's options.
        guard.route(spec.options);
        app.post(
          spec.path,
          create.json(),
          handle(async (req, res) => {
            const params = chatParams(req.body as Record<string, unknown>);
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

async function startHono(guard: ClaudeGuard, client: Anthropic, routes: RouteSpec[]): Promise<Server> {
  const app = new Hono<{ Variables: guardHono.ClaudeGuardVariables }>();
  for (const spec of routes) {
    switch (spec.kind) {
      case 'proxy':
        app.post(spec.path, guardHono.claudeProxy(guard, spec.options));
        break;
      case 'chat':
        app.post(spec.path, guardHono.claudeGuard(guard, spec.options), async (c) => {
          const body = await c.req.json<Record<string, unknown>>();
          const params = chatParams(body);
          const claude = c.var.claude;
          const message =
            body.via === 'run'
              ? await claude.run(({ signal, timeout }) =>
                  client.messages.create(params, { signal, timeout, maxRetries: 0 }),
                )
              : await claude.messages.create(params);
          return c.json({ text: textOf(message), request_id: claude.requestId });
        });
        break;
      case 'guard-run':
        guard.route(spec.options);
        app.post(spec.path, async (c) => {
          const params = chatParams(await c.req.json<Record<string, unknown>>());
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
  return new Promise<Server>((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(server as Server));
  });
}

/** Asserts the Anthropic error shape and returns the body's error for further checks. */
export function expectAnthropicError(result: HttpResult): { type: string; message: string } {
  const body = result.body as { type?: unknown; error?: { type?: unknown; message?: unknown }; request_id?: unknown };
  if (body?.type !== 'error' || typeof body.error?.type !== 'string' || typeof body.error.message !== 'string') {
    throw new Error(`not an Anthropic error body (status ${result.status}): ${result.text}`);
  }
  if (typeof body.request_id !== 'string' || body.request_id !== result.headers.get('x-request-id')) {
    throw new Error(
      `request_id ${String(body.request_id)} does not match x-request-id ${result.headers.get('x-request-id')}`,
    );
  }
  if (result.headers.get('x-should-retry') !== 'false') throw new Error('error response without x-should-retry: false');
  return { type: body.error.type, message: body.error.message };
}

/** The `x-stainless-retry-count` of every upstream request: the SDK itself never retried if all are '0'. */
export function retryCounts(fake: FakeAnthropic): (string | undefined)[] {
  return fake.requests.map((record) => record.headers['x-stainless-retry-count']);
}

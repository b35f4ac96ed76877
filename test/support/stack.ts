import Anthropic from '@anthropic-ai/sdk';
import type { ClaudeGuard, GuardEvent, MessageStreamParams, RequestLogRecord, RouteOptions } from '@claude-guard/core';
import { createFakeAnthropic, type FakeAnthropic, type FakeAnthropicOptions } from '@claude-guard/fake-anthropic';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import { startApp, type AdapterName, type GuardedHono, type RouteSpec } from './apps.js';
import { postJson, readResult, type HttpResult, type PostInit } from './clients.js';
import { createTestGuard, type CaptureCounts, type LogCall, type TestGuardOptions } from './guard.js';
import { PROMPT, messagesBody, params } from './messages.js';

/**
 * One app on a real socket in front of a fake upstream: fake-anthropic (started whatever `upstreamUrl`
 * says), a guard whose log lines and events are captured, and these routes:
 * - `POST /v1/messages`: `claudeProxy`, route `proxy`;
 * - `POST /chat`: `claudeGuard`, route `chat` (see {@link RouteSpec} for its body);
 * - `POST /run`: `guard.run`, route `batch`;
 * - and `routes`.
 */
export interface StackOptions {
  adapter: AdapterName;
  /** Guard options. Retries default to 1-5 ms ({@link FAST_RETRY}); the rest to the guard's defaults. */
  guard?: TestGuardOptions | undefined;
  /** Overrides of the `proxy` route at `/v1/messages`. */
  proxy?: Omit<RouteOptions, 'route'> | undefined;
  /** Overrides of the `chat` route at `/chat`. */
  chat?: Omit<RouteOptions, 'route'> | undefined;
  /** Overrides of the `batch` route at `/run`. */
  run?: Omit<RouteOptions, 'route'> | undefined;
  /** More routes. */
  routes?: RouteSpec[] | undefined;
  /** Behaviour of the fake at start (`reset()` restores it). */
  fake?: FakeAnthropicOptions | undefined;
  /** Point the guard at this upstream instead of the fake (e.g. a hostile upstream). */
  upstreamUrl?: string | undefined;
  /** The guard's SDK key. Default {@link API_KEY}. */
  apiKey?: string | undefined;
  /** Express only: mount `compression()` in front of every route. */
  compression?: boolean | undefined;
  /** Express only: where `express.json()` is mounted (see {@link AppOptions.expressJson}). */
  expressJson?: 'routes' | 'app' | undefined;
  /** Keep every log line and event in memory. Default true; a soak only counts them. */
  keep?: boolean | undefined;
}

export interface Stack {
  readonly adapter: AdapterName;
  readonly fake: FakeAnthropic;
  readonly guard: ClaudeGuard;
  /** The guard's own SDK client, pointed at the upstream. */
  readonly guardClient: Anthropic;
  /** The end user's SDK, pointed at our app, without its own retries. */
  readonly client: Anthropic;
  /** An SDK pointed straight at the fake, for reference answers. */
  readonly direct: Anthropic;
  readonly server: Server;
  /** `http://127.0.0.1:PORT` of our app. */
  readonly base: string;
  readonly port: number;
  /** The Hono app, for in-process `app.request()` (Hono only). */
  readonly hono: GuardedHono | undefined;
  /** Every logger call (empty unless `keep`). */
  readonly logs: LogCall[];
  /** Every guard event (empty unless `keep`). */
  readonly events: GuardEvent[];
  /** Log lines and events seen, kept or not. */
  readonly counts: CaptureCounts;
  /** POSTs to our app (JSON unless `body` is a string, bytes or a stream) and returns the response unread. */
  post(path: string, body: unknown, init?: PostInit): Promise<Response>;
  /** POSTs like {@link Stack.post} and reads the answer whole. */
  send(path: string, body: unknown, init?: PostInit): Promise<HttpResult>;
  /** Sends `{ message: PROMPT, ...body }` to `/chat`. */
  chat(headers?: Record<string, string>, body?: Record<string, unknown>): Promise<HttpResult>;
  /** Sends `messagesBody(body)` to `/v1/messages`. */
  proxy(headers?: Record<string, string>, body?: Record<string, unknown>): Promise<HttpResult>;
  /**
   * The fake's text for `request` asked directly (SDK, no guard). Resets the fake's log and queue
   * afterwards, so call it before `enqueue()`.
   */
  directText(request?: MessageStreamParams): Promise<string>;
  /** Resolves with the guard's log record for the `n`th request (0-based) once it is written. */
  logLine(n?: number): Promise<RequestLogRecord>;
  /** Resolves once `count` log lines have been written. */
  waitForLogs(count: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a {@link Stack}.
 *
 * @example
 * ```ts
 * const h = await startStack({ adapter: 'hono', guard: { stream: { heartbeatMs: 20 } }, fake: { replyWords: 6 } });
 * try {
 *   const events = await readSse(await h.post('/v1/messages', { ...params(), stream: true }));
 * } finally {
 *   await h.close();
 * }
 * ```
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const fake = await createFakeAnthropic(options.fake ?? {});
  const captured = createTestGuard({
    upstreamUrl: options.upstreamUrl ?? fake.url,
    apiKey: options.apiKey,
    guard: options.guard,
    keep: options.keep,
  });
  const { guard } = captured;
  const routes: RouteSpec[] = [
    { kind: 'proxy', path: '/v1/messages', options: { route: 'proxy', ...options.proxy } },
    { kind: 'chat', path: '/chat', options: { route: 'chat', ...options.chat } },
    { kind: 'guard-run', path: '/run', options: { route: 'batch', ...options.run } },
    ...(options.routes ?? []),
  ];

  let app: Awaited<ReturnType<typeof startApp>>;
  try {
    app = await startApp({
      adapter: options.adapter,
      guard,
      client: captured.client,
      routes,
      compression: options.compression,
      expressJson: options.expressJson,
    });
  } catch (error) {
    guard.close();
    await fake.close();
    throw error;
  }
  const { server } = app;
  const port = (server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  const direct = new Anthropic({ apiKey: 'x', baseURL: fake.url, maxRetries: 0 });
  const post: Stack['post'] = (path, body, init) => postJson(base, path, body, init);
  const send: Stack['send'] = async (path, body, init) => readResult(await post(path, body, init));

  let closed = false;
  return {
    adapter: options.adapter,
    fake,
    guard,
    guardClient: captured.client,
    client: new Anthropic({ apiKey: 'x', baseURL: base, maxRetries: 0 }),
    direct,
    server,
    base,
    port,
    hono: app.hono,
    logs: captured.logs,
    events: captured.events,
    counts: captured.counts,
    post,
    send,
    chat: (headers, body) => send('/chat', { message: PROMPT, ...body }, { headers }),
    proxy: (headers, body) => send('/v1/messages', messagesBody(body), { headers }),
    async directText(request = params()) {
      const text = await direct.messages.stream(request).finalText();
      await fake.settled();
      fake.reset();
      return text;
    },
    logLine: (n) => captured.logLine(n),
    waitForLogs: (count) => captured.waitForLogs(count),
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

/** Stack options without the adapter: what {@link useStack}'s starter takes. */
export type StackSettings = Omit<StackOptions, 'adapter'>;

/**
 * No deadline reserve: the deadline a test sets (or a caller's header gives) is all the guard spends,
 * so the budgets in the guarded suites' assertions are exact.
 */
export const NO_RESERVE: StackSettings = { guard: { deadline: { reserveMs: 0 } } };

/** The guard's option groups that {@link mergeSettings} merges field by field. */
const GROUPS = ['deadline', 'retry', 'retryBudget', 'breaker', 'stream', 'proxy'] as const;

/**
 * `defaults` with `overrides` over them; the guard's option groups (`deadline`, `retry`, `stream`, ...)
 * are merged one level down, so a test's `{ guard: { deadline: { defaultMs } } }` keeps a default `reserveMs`.
 *
 * @example
 * ```ts
 * mergeSettings({ guard: { deadline: { reserveMs: 0 } } }, { guard: { deadline: { defaultMs: 50 } } });
 * // { guard: { deadline: { reserveMs: 0, defaultMs: 50 } } }
 * ```
 */
export function mergeSettings(defaults: StackSettings, overrides: StackSettings = {}): StackSettings {
  const merged: StackSettings = { ...defaults, ...overrides };
  if (defaults.guard && overrides.guard) {
    const guard: Record<string, unknown> = { ...defaults.guard, ...overrides.guard };
    for (const group of GROUPS) {
      const base: unknown = defaults.guard[group];
      const over: unknown = overrides.guard[group];
      if (typeof base === 'object' && base !== null && typeof over === 'object' && over !== null) {
        guard[group] = { ...base, ...over };
      }
    }
    merged.guard = guard;
  }
  return merged;
}

/**
 * Registers an `afterEach` that closes every stack the test started, and returns the starter; the
 * starter's settings are merged over `defaults` ({@link mergeSettings}).
 *
 * @example
 * ```ts
 * const start = useStack({ guard: { deadline: { reserveMs: 0 } } });
 * it('works', async () => { const h = await start('express'); ... });
 * ```
 */
export function useStack(
  defaults: StackSettings = {},
): (adapter: AdapterName, settings?: StackSettings) => Promise<Stack> {
  const started: Stack[] = [];
  afterEach(async () => {
    for (const stack of started.splice(0)) await stack.close();
  });
  return async (adapter, settings) => {
    const stack = await startStack({ ...mergeSettings(defaults, settings), adapter });
    started.push(stack);
    return stack;
  };
}

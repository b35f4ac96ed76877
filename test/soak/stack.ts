import Anthropic from '@anthropic-ai/sdk';
import {
  createClaudeGuard,
  type ClaudeGuard,
  type ClaudeGuardOptions,
  type Clock,
  type GuardEvent,
  type MessageStreamParams,
  type RequestLogRecord,
  type RouteOptions,
  type TimerHandle,
} from '@claude-guard/core';
import {
  claudeGuard as expressGuard,
  claudeGuardErrorHandler as expressErrorHandler,
  claudeProxy as expressProxy,
} from '@claude-guard/express';
import { createFakeAnthropic, type FakeAnthropic, type FakeAnthropicOptions } from '@claude-guard/fake-anthropic';
import {
  claudeGuard as honoGuard,
  claudeGuardErrorHandler as honoErrorHandler,
  claudeProxy as honoProxy,
  type ClaudeGuardVariables,
} from '@claude-guard/hono';
import { serve } from '@hono/node-server';
import express from 'express';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MODEL, type AdapterName } from '../streaming/harness.js';

/**
 * A fuller stack than `test/streaming/harness.ts` offers: the same two routes (`POST /v1/messages`
 * through `claudeProxy`, `POST /chat` through `claudeGuard`), but with every guard and route option
 * open, the guard's API key chosen by the test, and the log kept or only counted (for soaks).
 *
 * Express mounts no JSON parser in front of the passthrough (as its README says); `/chat` has its own.
 */
export interface StackOptions {
  adapter: AdapterName;
  /** The guard's SDK key. Default `sk-ant-test-secret`. */
  apiKey?: string;
  /** Guard options (client, logger and onEvent are the stack's). Retries default to 1-5 ms. */
  guard?: Omit<ClaudeGuardOptions, 'client' | 'logger' | 'onEvent'>;
  /** Overrides of the `proxy` route at `/v1/messages`. */
  proxy?: Omit<RouteOptions, 'route'>;
  /** Overrides of the `chat` route at `/chat`. */
  chat?: Omit<RouteOptions, 'route'>;
  fake?: FakeAnthropicOptions;
  /** Keep every log line and event in memory. Default true; a soak only counts them. */
  keep?: boolean;
}

/** One logger call, as the guard made it. */
export interface LogCall {
  level: 'info' | 'warn';
  record: RequestLogRecord;
  message: string | undefined;
}

export interface Stack {
  readonly adapter: AdapterName;
  readonly fake: FakeAnthropic;
  readonly guard: ClaudeGuard;
  readonly server: Server;
  /** `http://127.0.0.1:PORT` of our app. */
  readonly base: string;
  readonly port: number;
  /** Every logger call (empty unless `keep`). */
  readonly logs: LogCall[];
  /** Every guard event (empty unless `keep`). */
  readonly events: GuardEvent[];
  /** Log lines and events seen, kept or not. */
  readonly counts: { logs: number; events: number; byType: Map<string, number> };
  close(): Promise<void>;
}

/** `/chat` bodies: `{ message, stream?, max_tokens? }`, answered `{ text }` or a `text`-format stream. */
interface ChatBody {
  message?: unknown;
  stream?: unknown;
  max_tokens?: unknown;
}

function chatParams(body: ChatBody): MessageStreamParams {
  return {
    model: MODEL,
    max_tokens: typeof body.max_tokens === 'number' ? body.max_tokens : 4096,
    messages: [{ role: 'user', content: String(body.message) }],
  };
}

function textOf(message: Anthropic.Message): string {
  return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const keep = options.keep ?? true;
  const fake = await createFakeAnthropic(options.fake ?? {});
  const logs: LogCall[] = [];
  const events: GuardEvent[] = [];
  const counts = { logs: 0, events: 0, byType: new Map<string, number>() };
  const log = (level: LogCall['level']) => (record: object, message?: string) => {
    counts.logs += 1;
    if (keep) logs.push({ level, record: record as RequestLogRecord, message });
  };
  const guardOptions = options.guard ?? {};
  const guard = createClaudeGuard({
    ...guardOptions,
    client: new Anthropic({ apiKey: options.apiKey ?? 'sk-ant-test-secret', baseURL: fake.url }),
    retry: { baseDelayMs: 1, maxDelayMs: 5, ...guardOptions.retry },
    logger: { info: log('info'), warn: log('warn') },
    onEvent: (event) => {
      counts.events += 1;
      counts.byType.set(event.type, (counts.byType.get(event.type) ?? 0) + 1);
      if (keep) events.push(event);
    },
  });
  const proxyRoute: RouteOptions = { route: 'proxy', ...options.proxy };
  const chatRoute: RouteOptions = { route: 'chat', ...options.chat };

  let server: Server;
  try {
    server =
      options.adapter === 'express'
        ? await listenExpress(guard, proxyRoute, chatRoute)
        : await listenHono(guard, proxyRoute, chatRoute);
  } catch (error) {
    guard.close();
    await fake.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  return {
    adapter: options.adapter,
    fake,
    guard,
    server,
    base: `http://127.0.0.1:${port}`,
    port,
    logs,
    events,
    counts,
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

async function listenExpress(guard: ClaudeGuard, proxyRoute: RouteOptions, chatRoute: RouteOptions): Promise<Server> {
  const app = express();
  app.post('/v1/messages', expressProxy(guard, proxyRoute));
  app.post('/chat', express.json(), expressGuard(guard, chatRoute), async (req, res) => {
    const body = req.body as ChatBody;
    if (body.stream === true) {
      await req.claude.stream(res, chatParams(body), { format: 'text' });
      return;
    }
    res.json({ text: textOf(await req.claude.messages.create(chatParams(body))) });
  });
  app.use(expressErrorHandler(guard));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

async function listenHono(guard: ClaudeGuard, proxyRoute: RouteOptions, chatRoute: RouteOptions): Promise<Server> {
  const app = new Hono<{ Variables: ClaudeGuardVariables }>();
  app.post('/v1/messages', honoProxy(guard, proxyRoute));
  app.post('/chat', honoGuard(guard, chatRoute), async (c) => {
    const body = await c.req.json<ChatBody>();
    if (body.stream === true) return c.var.claude.stream(c, chatParams(body), { format: 'text' });
    return c.json({ text: textOf(await c.var.claude.messages.create(chatParams(body))) });
  });
  app.onError(honoErrorHandler(guard));
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

/**
 * The fake's reply to `prompt` when it answers `words` words (`replyWords` capped by `max_tokens`):
 * the prompt's words, cycled.
 */
export function expectedReply(prompt: string, words: number): string {
  const pool = prompt.split(/\s+/).filter((word) => word !== '');
  return Array.from({ length: words }, (_, i) => pool[i % pool.length]!).join(' ');
}

/** A seeded PRNG (mulberry32), values in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * A clock that only moves when told to: deadlines and attempt timers fire on `advance()`. (The SDK's
 * own per-attempt `timeout` and opossum's reset timer still run on real time.)
 */
export interface ManualClock extends Clock {
  advance(ms: number): void;
  /** Timers not yet fired or cleared. */
  readonly pending: number;
}

export function manualClock(start = 1_000_000): ManualClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; callback: () => void }>();
  return {
    now: () => now,
    setTimeout(callback, ms) {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), callback });
      return { id } satisfies TimerHandle;
    },
    clearTimeout(handle) {
      timers.delete((handle as { id: number }).id);
    },
    advance(ms) {
      now += ms;
      const due = [...timers.entries()].filter(([, timer]) => timer.at <= now).sort((a, b) => a[1].at - b[1].at);
      for (const [id, timer] of due) {
        if (!timers.delete(id)) continue;
        timer.callback();
      }
    },
    get pending() {
      return timers.size;
    },
  };
}

import Anthropic from '@anthropic-ai/sdk';
import {
  createClaudeGuard,
  type BreakerOptions,
  type ClaudeGuard,
  type Clock,
  type DeadlineOptions,
  type GuardEvent,
  type MessageStreamParams,
  type ProxyOptions,
  type RequestLogRecord,
  type RetryOptions,
  type StreamOptions,
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
import compression from 'compression';
import express from 'express';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The two adapters every streaming behaviour is shown for. */
export type AdapterName = 'express' | 'hono';
export const ADAPTERS: readonly AdapterName[] = ['express', 'hono'];

export const MODEL = 'claude-sonnet-5';

/** The request every test sends unless it needs another one. */
export function params(content = 'the quick brown fox jumps over the lazy dog', maxTokens = 4096): MessageStreamParams {
  return { model: MODEL, max_tokens: maxTokens, messages: [{ role: 'user', content }] };
}

export interface HarnessOptions {
  adapter: AdapterName;
  stream?: StreamOptions;
  deadline?: DeadlineOptions;
  retry?: RetryOptions;
  /** Behaviour of the fake at start (`reset()` restores it). */
  fake?: FakeAnthropicOptions;
  /** Express only: mount `compression()` in front of every route. */
  compression?: boolean;
  /** The guard's clock (default: the system clock). */
  clock?: Clock;
  /** Point the guard at this upstream instead of the fake (e.g. a hostile upstream from test/support). */
  upstreamUrl?: string;
  /** The API key the guard uses (default `sk-ant-test-secret`). */
  apiKey?: string;
  /** Breaker options for the guard. */
  breaker?: Omit<BreakerOptions, 'key'>;
  /** The guard's correlation header (default `x-request-id`). */
  requestIdHeader?: string;
  /** The passthrough's limits (guard-wide `proxy` options), e.g. a small `maxBodyBytes`. */
  proxy?: ProxyOptions;
}

/**
 * One app on a real socket: fake-anthropic upstream, a guard, and
 * `POST /v1/messages` (claudeProxy) plus `POST /chat` (guarded route; `{ message, stream?, max_tokens? }`,
 * streaming in the `text` format when `stream` is true).
 */
export interface Harness {
  readonly adapter: AdapterName;
  readonly fake: FakeAnthropic;
  readonly guard: ClaudeGuard;
  /** `http://127.0.0.1:PORT` of our app. */
  readonly base: string;
  /** The end user's SDK, pointed at our app, without its own retries. */
  readonly client: Anthropic;
  /** An SDK pointed straight at the fake, for reference answers. */
  readonly direct: Anthropic;
  /** The guard's log lines, one per request. */
  readonly logs: RequestLogRecord[];
  /** Every guard event. */
  readonly events: GuardEvent[];
  /** The Hono app, for in-process `app.request()` (Hono only). */
  readonly hono: Hono<{ Variables: ClaudeGuardVariables }> | undefined;
  /** POSTs JSON to our app. */
  post(
    path: string,
    body: unknown,
    init?: { headers?: Record<string, string>; signal?: AbortSignal },
  ): Promise<Response>;
  /**
   * The fake's text for `request` asked directly (SDK, no guard). Resets the fake's log and queue
   * afterwards, so call it before `enqueue()`.
   */
  directText(request?: MessageStreamParams): Promise<string>;
  /** Resolves with the guard's log line for the `n`th request (0-based) once it is written. */
  logLine(n?: number): Promise<RequestLogRecord>;
  close(): Promise<void>;
}

/** A small retry policy so tests spend no real time waiting. */
const FAST_RETRY: RetryOptions = { baseDelayMs: 1, maxDelayMs: 5 };

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const fake = await createFakeAnthropic(options.fake ?? {});
  const logs: RequestLogRecord[] = [];
  const events: GuardEvent[] = [];
  const guard = createClaudeGuard({
    client: new Anthropic({ apiKey: options.apiKey ?? 'sk-ant-test-secret', baseURL: options.upstreamUrl ?? fake.url }),
    ...(options.breaker ? { breaker: options.breaker } : {}),
    retry: { ...FAST_RETRY, ...options.retry },
    ...(options.stream ? { stream: options.stream } : {}),
    ...(options.deadline ? { deadline: options.deadline } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.requestIdHeader === undefined ? {} : { requestIdHeader: options.requestIdHeader }),
    ...(options.proxy ? { proxy: options.proxy } : {}),
    logger: { info: (record) => logs.push(record as RequestLogRecord) },
    onEvent: (event) => events.push(event),
  });

  let server: Server;
  let hono: Hono<{ Variables: ClaudeGuardVariables }> | undefined;
  if (options.adapter === 'express') {
    server = await listenExpress(guard, options.compression === true);
  } else {
    if (options.compression === true) throw new Error('compression() is an Express middleware');
    hono = buildHono(guard);
    server = await listenHono(hono);
  }
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const direct = new Anthropic({ apiKey: 'x', baseURL: fake.url, maxRetries: 0 });

  const logLine = async (n = 0): Promise<RequestLogRecord> => {
    for (let i = 0; i < 500; i++) {
      const line = logs[n];
      if (line) return line;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`no log line #${n} was written (have ${logs.length})`);
  };

  return {
    adapter: options.adapter,
    fake,
    guard,
    base,
    client: new Anthropic({ apiKey: 'x', baseURL: base, maxRetries: 0 }),
    direct,
    logs,
    events,
    hono,
    post: (path, body, init) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...init?.headers },
        body: JSON.stringify(body),
        ...(init?.signal ? { signal: init.signal } : {}),
      }),
    async directText(request = params()) {
      const text = await direct.messages.stream(request).finalText();
      await fake.settled();
      fake.reset();
      return text;
    },
    logLine,
    async close() {
      guard.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fake.close();
    },
  };
}

interface ChatBody {
  message?: unknown;
  stream?: unknown;
  max_tokens?: unknown;
}

function chatParams(body: ChatBody): MessageStreamParams {
  const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : 4096;
  return params(String(body.message), maxTokens);
}

async function listenExpress(guard: ClaudeGuard, withCompression: boolean): Promise<Server> {
  const app = express();
  if (withCompression) app.use(compression());
  app.use(express.json());
  app.post('/v1/messages', expressProxy(guard, { route: 'proxy' }));
  app.post('/chat', expressGuard(guard, { route: 'chat' }), async (req, res) => {
    const body = req.body as ChatBody;
    if (body.stream === true) {
      await req.claude.stream(res, chatParams(body), { format: 'text' });
      return;
    }
    const message = await req.claude.messages.create(chatParams(body));
    res.json({ text: message.content.map((block) => (block.type === 'text' ? block.text : '')).join('') });
  });
  app.use(expressErrorHandler(guard));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

function buildHono(guard: ClaudeGuard): Hono<{ Variables: ClaudeGuardVariables }> {
  const app = new Hono<{ Variables: ClaudeGuardVariables }>();
  app.post('/v1/messages', honoProxy(guard, { route: 'proxy' }));
  app.post('/chat', honoGuard(guard, { route: 'chat' }), async (c) => {
    const body = await c.req.json<ChatBody>();
    if (body.stream === true) return c.var.claude.stream(c, chatParams(body), { format: 'text' });
    const message = await c.var.claude.messages.create(chatParams(body));
    return c.json({ text: message.content.map((block) => (block.type === 'text' ? block.text : '')).join('') });
  });
  app.onError(honoErrorHandler(guard));
  return app;
}

async function listenHono(app: Hono<{ Variables: ClaudeGuardVariables }>): Promise<Server> {
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

/** One server-sent event as a client sees it. */
export interface SseMessage {
  event: string | undefined;
  data: string;
}

/**
 * A minimal incremental SSE reader over a fetch body: `next()` returns events in order, one at a
 * time, reading more bytes only when needed (so not calling it leaves the body unread).
 */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = '';
  #ended = false;

  constructor(body: ReadableStream<Uint8Array> | null) {
    if (!body) throw new Error('the response has no body');
    this.#reader = body.getReader();
  }

  /** The next event, or `undefined` at the end of the body. */
  async next(): Promise<SseMessage | undefined> {
    for (;;) {
      const cut = this.#buffer.indexOf('\n\n');
      if (cut >= 0) {
        const block = this.#buffer.slice(0, cut);
        this.#buffer = this.#buffer.slice(cut + 2);
        const message = parseBlock(block);
        if (message) return message;
        continue;
      }
      if (this.#ended) return undefined;
      const { done, value } = await this.#reader.read();
      if (done) {
        this.#ended = true;
        this.#buffer += this.#decoder.decode();
      } else {
        this.#buffer += this.#decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      }
    }
  }

  /** Reads events until `predicate` matches one (returned last), or the end. */
  async until(predicate: (message: SseMessage) => boolean): Promise<SseMessage[]> {
    const out: SseMessage[] = [];
    for (;;) {
      const message = await this.next();
      if (!message) return out;
      out.push(message);
      if (predicate(message)) return out;
    }
  }

  /** Every remaining event. */
  async rest(): Promise<SseMessage[]> {
    return this.until(() => false);
  }

  /** Stops reading: cancels the body. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => undefined);
  }
}

function parseBlock(block: string): SseMessage | undefined {
  let event: string | undefined;
  let data: string | undefined;
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value === '' ? undefined : value;
    else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
  }
  if (event === undefined && data === undefined) return undefined;
  return { event, data: data ?? '' };
}

/** Every event of a fetch response's SSE body, in order. */
export async function readSse(response: Response): Promise<SseMessage[]> {
  return new SseReader(response.body).rest();
}

/** The event names, in order. */
export function names(messages: readonly SseMessage[]): (string | undefined)[] {
  return messages.map((message) => message.event);
}

/** The parsed JSON of an event's data. */
export function json<T = Record<string, unknown>>(message: SseMessage | undefined): T {
  if (!message) throw new Error('no event');
  return JSON.parse(message.data) as T;
}

/** The text of the `content_block_delta` events of an `anthropic`-format stream. */
export function deltaText(messages: readonly SseMessage[]): string {
  return messages
    .filter((message) => message.event === 'content_block_delta')
    .map((message) => json<{ delta: { text: string } }>(message).delta.text)
    .join('');
}

/**
 * Polls `read` every `interval` ms until it has returned the same value `stableFor` times in a row:
 * the value a process settled on once it stopped making progress.
 */
export async function settledValue(read: () => number, interval = 50, stableFor = 6): Promise<number> {
  let last = read();
  let same = 0;
  for (let i = 0; i < 400; i++) {
    await new Promise((resolve) => setTimeout(resolve, interval));
    const now = read();
    same = now === last ? same + 1 : 0;
    if (same >= stableFor) return now;
    last = now;
  }
  throw new Error('the value never stopped changing');
}

/** The anthropic-format event sequence of a complete stream. */
export function isCompleteAnthropicStream(messages: readonly SseMessage[]): boolean {
  const list = names(messages).filter((name) => name !== 'ping');
  return (
    list[0] === 'message_start' &&
    list[1] === 'content_block_start' &&
    list.at(-3) === 'content_block_stop' &&
    list.at(-2) === 'message_delta' &&
    list.at(-1) === 'message_stop' &&
    !list.includes('error')
  );
}

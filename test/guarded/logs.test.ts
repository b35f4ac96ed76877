import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, type ClaudeGuard, type GuardLogger, type LogFormat } from '@claude-guard/core';
import * as guardExpress from '@claude-guard/express';
import * as guardHono from '@claude-guard/hono';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { serve } from '@hono/node-server';
import express from 'express';
import { Hono } from 'hono';
import { Console } from 'node:console';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ADAPTERS,
  API_KEY,
  MODEL,
  NO_RESERVE,
  PROMPT,
  postJson,
  readResult,
  useStack,
  type AdapterName,
  type LogCall,
  type Stack,
} from '../support/index.js';

async function lineFor(h: Stack, requestId: string): Promise<LogCall> {
  await vi.waitFor(() => expect(h.logs.some((l) => l.record.requestId === requestId)).toBe(true), {
    timeout: 5_000,
    interval: 2,
  });
  return h.logs.find((l) => l.record.requestId === requestId && l.message === 'claude-guard request')!;
}

describe.each(ADAPTERS)('log levels (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  it('writes a success at info', async () => {
    const h = await start(adapter);
    await h.chat({ 'x-request-id': 'lv-ok' });
    expect((await lineFor(h, 'lv-ok')).level).toBe('info');
    const proxied = await h.proxy({ 'x-request-id': 'lv-proxy' });
    expect(proxied.status).toBe(200);
    expect((await lineFor(h, 'lv-proxy')).level).toBe('info');
  });

  it('writes upstream failures, a 4xx the upstream gave included, at warn', async () => {
    const h = await start(adapter);
    h.fake.enqueue(529, 529, 529);
    expect((await h.chat({ 'x-request-id': 'lv-529' })).status).toBe(529);
    expect((await lineFor(h, 'lv-529')).level).toBe('warn');
    expect((await h.chat({ 'x-request-id': 'lv-400' }, { max_tokens: 0 })).status).toBe(400);
    expect((await lineFor(h, 'lv-400')).level).toBe('warn');
  });

  it("writes a request the guard refused itself at info: the client's business", async () => {
    const h = await start(adapter);
    const bad = await h.send('/v1/messages', '{"model":', { headers: { 'x-request-id': 'lv-json' } });
    expect(bad.status).toBe(400);
    expect((await lineFor(h, 'lv-json')).level).toBe('info');
  });

  it('writes a deadline expiry at warn', async () => {
    const h = await start(adapter);
    h.fake.enqueue({ kind: 'delay-headers', ms: 2_000 });
    const late = await h.chat({ 'x-request-id': 'lv-deadline', 'x-request-timeout-ms': '50' });
    expect(late.status).toBe(504);
    expect((await lineFor(h, 'lv-deadline')).level).toBe('warn');
  });

  it('writes a breaker refusal at warn', async () => {
    const h = await start(adapter, {
      chat: { retry: { maxAttempts: 1 }, breaker: { volumeThreshold: 1, resetTimeout: 60_000 } },
    });
    h.fake.enqueue(529);
    await h.chat();
    const refused = await h.chat({ 'x-request-id': 'lv-breaker' });
    expect(refused.status).toBe(503);
    expect((await lineFor(h, 'lv-breaker')).level).toBe('warn');
  });

  it("writes a handler's bug at error", async () => {
    const h = await start(adapter);
    const result = await h.chat({ 'x-request-id': 'lv-bug' }, { via: 'throw' });
    expect(result.status).toBe(500);
    expect(await lineFor(h, 'lv-bug')).toMatchObject({ level: 'error', record: { outcome: 'internal-error' } });
    expect(JSON.stringify(h.logs)).not.toContain(API_KEY);
  });

  it('writes a client that left at info', async () => {
    const h = await start(adapter);
    h.fake.enqueue({ kind: 'delay-headers', ms: 5_000 });
    const controller = new AbortController();
    const pending = h
      .send('/chat', { message: PROMPT }, { headers: { 'x-request-id': 'lv-gone' }, signal: controller.signal })
      .catch(() => undefined);
    await vi.waitFor(() => expect(h.fake.requests).toHaveLength(1), { timeout: 5_000, interval: 2 });
    controller.abort();
    await pending;
    expect(await lineFor(h, 'lv-gone')).toMatchObject({ level: 'info', record: { status: 499 } });
  });
});

/** A pino-shaped logger: levels, and child() whose lines carry the bindings. */
function pinoLike() {
  const lines: { level: string; bindings: Record<string, unknown>; record: object; message: string | undefined }[] = [];
  const children: Record<string, unknown>[] = [];
  const make = (bindings: Record<string, unknown>): GuardLogger & { warn: GuardLogger['info'] } => {
    const at =
      (level: string) =>
      (record: object, message?: string): void => {
        lines.push({ level, bindings, record, message });
      };
    return {
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (more) => {
        children.push(more);
        return make({ ...bindings, ...more });
      },
    };
  };
  return { logger: make({}), lines, children };
}

/** A `node:console` Console writing to memory: what a process's stdout and stderr would get. */
function memoryConsole() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: string[] = [];
  const err: string[] = [];
  stdout.on('data', (chunk: Buffer) => out.push(chunk.toString('utf8')));
  stderr.on('data', (chunk: Buffer) => err.push(chunk.toString('utf8')));
  return {
    console: new Console({ stdout, stderr }),
    stdoutLines: () => out.join('').split('\n').filter(Boolean),
    stderrLines: () => err.join('').split('\n').filter(Boolean),
  };
}

interface LogApp {
  guard: ClaudeGuard;
  fake: FakeAnthropic;
  base: string;
}

/**
 * A guarded `/chat` whose handler asks Claude, and with `{ log: true }` writes one line of its own through
 * `claude.log`; `{ fail: true }` makes Claude answer 529 every time.
 */
async function startLogApp(adapter: AdapterName, logger: GuardLogger, logFormat?: LogFormat): Promise<LogApp> {
  const fake = await createFakeAnthropic();
  const guard = createClaudeGuard({
    client: new Anthropic({ apiKey: API_KEY, baseURL: fake.url }),
    logger,
    ...(logFormat ? { logFormat } : {}),
    retry: { maxAttempts: 1 },
  });
  const params = { model: MODEL, max_tokens: 20, messages: [{ role: 'user' as const, content: PROMPT }] };
  let server: Server;
  if (adapter === 'hono') {
    const app = new Hono<{ Variables: guardHono.ClaudeGuardVariables }>();
    app.onError(guardHono.claudeGuardErrorHandler(guard));
    app.post('/chat', guardHono.claudeGuard(guard, { route: 'chat' }), async (c) => {
      const body = await c.req.json<{ log?: boolean }>();
      const message = await c.var.claude.messages.create(params);
      if (body.log) c.var.claude.log.info({ outputTokens: message.usage.output_tokens }, 'reply saved');
      return c.json({ ok: true });
    });
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  } else {
    const app = express();
    app.post(
      '/chat',
      express.json(),
      guardExpress.claudeGuard(guard, { route: 'chat' }),
      guardExpress.guarded(async (req, res) => {
        const message = await req.claude.messages.create(params);
        if ((req.body as { log?: boolean }).log) {
          req.claude.log.info({ outputTokens: message.usage.output_tokens }, 'reply saved');
        }
        res.json({ ok: true });
      }),
    );
    app.use(guardExpress.claudeGuardErrorHandler(guard));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
  }
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closers.push(async () => {
    guard.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await fake.close();
  });
  return { guard, fake, base };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function chat(app: LogApp, requestId: string, body: Record<string, unknown> = {}) {
  return readResult(await postJson(app.base, '/chat', body, { headers: { 'x-request-id': requestId } }));
}

describe.each(ADAPTERS)('console and child loggers (%s)', (adapter) => {
  it('writes one JSON line per request to a console: info on stdout, warn on stderr', async () => {
    const memory = memoryConsole();
    const app = await startLogApp(adapter, memory.console);
    expect((await chat(app, 'json-ok')).status).toBe(200);
    app.fake.enqueue(529);
    expect((await chat(app, 'json-529')).status).toBe(529);
    await vi.waitFor(() => expect(memory.stderrLines()).toHaveLength(1), { timeout: 5_000, interval: 2 });
    const [ok] = memory.stdoutLines().map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(memory.stdoutLines()).toHaveLength(1);
    expect(ok).toMatchObject({
      level: 'info',
      msg: 'claude-guard request',
      route: 'chat',
      requestId: 'json-ok',
      status: 200,
      outcome: 'ok',
      model: MODEL,
    });
    const failed = JSON.parse(memory.stderrLines()[0]!) as Record<string, unknown>;
    expect(failed).toMatchObject({ level: 'warn', requestId: 'json-529', status: 529, outcome: 'upstream-error' });
    expect(Object.keys(ok!).slice(0, 3)).toEqual(['level', 'msg', 'route']);
  });

  it('treats the global console as a console, and logFormat object hands it the record as it is', async () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => undefined);
    try {
      const json = await startLogApp(adapter, console);
      await chat(json, 'global-json');
      await vi.waitFor(() => expect(info).toHaveBeenCalledTimes(1), { timeout: 5_000, interval: 2 });
      expect(info.mock.calls[0]).toHaveLength(1);
      expect(JSON.parse(info.mock.calls[0]![0] as string)).toMatchObject({ requestId: 'global-json', level: 'info' });
      const object = await startLogApp(adapter, console, 'object');
      await chat(object, 'global-object');
      await vi.waitFor(() => expect(info).toHaveBeenCalledTimes(2), { timeout: 5_000, interval: 2 });
      expect(info.mock.calls[1]).toEqual([
        expect.objectContaining({ requestId: 'global-object', status: 200 }),
        'claude-guard request',
      ]);
    } finally {
      info.mockRestore();
    }
  });

  it("gives the handler the logger's child for its request, built only when the handler asks", async () => {
    const pino = pinoLike();
    const app = await startLogApp(adapter, pino.logger);
    await chat(app, 'quiet');
    await chat(app, 'talks', { log: true });
    await vi.waitFor(() => expect(pino.lines.filter((l) => l.message === 'claude-guard request')).toHaveLength(2), {
      timeout: 5_000,
      interval: 2,
    });
    // One child, for the request whose handler logged; none for the other.
    expect(pino.children).toEqual([{ route: 'chat', requestId: 'talks' }]);
    const own = pino.lines.filter((l) => l.message === 'reply saved');
    expect(own).toEqual([
      {
        level: 'info',
        bindings: { route: 'chat', requestId: 'talks' },
        record: { outputTokens: expect.any(Number) as number },
        message: 'reply saved',
      },
    ]);
    // The guard's own line goes through the logger itself: its fields are not bound twice.
    expect(pino.lines.find((l) => l.message === 'claude-guard request')?.bindings).toEqual({});
  });

  it('adds route and requestId to the lines of a logger without child(), one JSON line with a console', async () => {
    const plain: { record: object; message: string | undefined }[] = [];
    const app = await startLogApp(adapter, { info: (record, message) => plain.push({ record, message }) });
    await chat(app, 'plain', { log: true });
    await vi.waitFor(() => expect(plain).toHaveLength(2), { timeout: 5_000, interval: 2 });
    expect(plain.find((l) => l.message === 'reply saved')?.record).toEqual({
      route: 'chat',
      requestId: 'plain',
      outputTokens: expect.any(Number) as number,
    });

    const memory = memoryConsole();
    const json = await startLogApp(adapter, memory.console);
    await chat(json, 'console-own', { log: true });
    await vi.waitFor(() => expect(memory.stdoutLines()).toHaveLength(2), { timeout: 5_000, interval: 2 });
    const own = memory.stdoutLines().map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(own).toContainEqual({
      level: 'info',
      msg: 'reply saved',
      route: 'chat',
      requestId: 'console-own',
      outputTokens: expect.any(Number) as number,
    });
  });

  it('never lets a logger that throws reach the request', async () => {
    const app = await startLogApp(adapter, {
      info: () => {
        throw new Error('log sink down');
      },
    });
    const result = await chat(app, 'broken-logger', { log: true });
    expect(result.status).toBe(200);
    expect(result.body).toEqual({ ok: true });
  });
});

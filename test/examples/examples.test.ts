import Anthropic from '@anthropic-ai/sdk';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startExpressExample } from '../../examples/express/src/start.js';
import { startHonoExample } from '../../examples/hono/src/start.js';
import { readSse, textEventsText } from '../support/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const silent = { info: () => {} };
const EXAMPLES = [
  ['express', startExpressExample],
  ['hono', startHonoExample],
] as const;

describe.each(EXAMPLES)('examples/%s', (_name, start) => {
  let app: Awaited<ReturnType<typeof start>> | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('serves health, the status of every breaker, and the demo page', async () => {
    app = await start({ PORT: '0', FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0' }, silent);
    expect(await (await fetch(`${app.url}/healthz`)).json()).toEqual({ ok: true });
    await fetch(`${app.url}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"message":"hi"}',
    });
    const status = (await (await fetch(`${app.url}/guard/status`)).json()) as {
      upstream: string;
      breakers: { key: string; state: string; retryAfterSeconds: number }[];
    };
    expect(status.upstream).toBe('fake-anthropic');
    expect(status.breakers.map((b) => b.key).sort()).toEqual(['chat', 'chat-direct', 'proxy']);
    // Public: no counts or exact timings (they let a client time the half-open trial).
    expect(status.breakers.find((b) => b.key === 'chat')).toEqual({
      key: 'chat',
      state: 'closed',
      retryAfterSeconds: 0,
    });
    const page = await fetch(`${app.url}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('claude-guard demo');
  });

  it('lets the official SDK stream through its /v1/messages, with the text the upstream produced', async () => {
    app = await start({ PORT: '0', FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0' }, silent);
    const params = {
      model: 'claude-sonnet-5',
      max_tokens: 100,
      messages: [{ role: 'user' as const, content: 'stream me please' }],
    };
    const direct = new Anthropic({ apiKey: 'k', baseURL: app.upstream.fake!.url, maxRetries: 0 });
    const expected = await direct.messages.stream(params).finalText();
    const viaExample = new Anthropic({ apiKey: 'k', baseURL: app.url, maxRetries: 0 });
    expect(await viaExample.messages.stream(params).finalText()).toBe(expected);
    const message = await viaExample.messages.create(params);
    expect(message.content[0]).toMatchObject({ type: 'text', text: expected });
  });

  it('answers /chat as JSON, and as the text SSE format with "stream": true', async () => {
    app = await start({ PORT: '0', FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0' }, silent);
    const post = (body: unknown) =>
      fetch(`${app!.url}/chat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const json = (await (await post({ message: 'one two three' })).json()) as { text: string; request_id: string };
    expect(json.text.length).toBeGreaterThan(0);
    expect(json.request_id).toMatch(/^[A-Za-z0-9._-]+$/);
    const streamed = await post({ message: 'one two three', stream: true });
    expect(streamed.headers.get('content-type')).toBe('text/event-stream');
    const events = await readSse(streamed);
    expect(textEventsText(events)).toBe(json.text);
    expect(events.at(-1)?.event).toBe('done');
    const bad = await post({ message: 42 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });

  it('answers /chat-direct through a client guarded by its middleware alone: deadline header, retries, its own breaker', async () => {
    app = await start({ PORT: '0', FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0' }, silent);
    const fake = app.upstream.fake!;
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${app!.url}/chat-direct`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    fake.enqueue(529, 'ok');
    const ok = await post({ message: 'one two three' });
    expect(ok.status).toBe(200);
    const json = (await ok.json()) as { text: string; request_id: string };
    expect(json.text.length).toBeGreaterThan(0);
    expect(json.request_id).toBe(ok.headers.get('x-request-id'));
    // The guard's two attempts, and no SDK retry on top.
    expect(fake.requests.map((r) => r.headers['x-stainless-retry-count'])).toEqual(['0', '1']);

    // The caller's deadline reaches the call: a 504 in the guard's words, the upstream request abandoned.
    fake.enqueue({ kind: 'delay-headers', ms: 120_000 });
    const late = await post({ message: 'hi' }, { 'x-request-timeout-ms': '300' });
    expect(late.status).toBe(504);
    expect(((await late.json()) as { error: { type: string } }).error.type).toBe('timeout_error');
    await fake.settled();
    expect(fake.requests.slice(2).every((r) => r.outcome !== 'completed')).toBe(true);

    const bad = await post({ message: 42 });
    expect(bad.status).toBe(400);
    const status = (await (await fetch(`${app.url}/guard/status`)).json()) as { breakers: { key: string }[] };
    expect(status.breakers).toContainEqual({ key: 'chat-direct', state: 'closed', retryAfterSeconds: 0 });
  });

  it('takes its tuning from the environment', async () => {
    app = await start(
      {
        PORT: '0',
        FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0',
        CLAUDE_GUARD_MAX_ATTEMPTS: '1',
        CLAUDE_GUARD_BREAKER_VOLUME: '1',
      },
      silent,
    );
    app.upstream.fake!.enqueue(529, 529);
    const response = await fetch(`${app.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(response.status).toBe(529);
    expect(app.upstream.fake!.requests).toHaveLength(1);
    const again = await fetch(`${app.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(again.status).toBe(503);
    expect(app.upstream.fake!.requests).toHaveLength(1);
  });

  it('limits the passthrough and /chat by CLAUDE_GUARD_MAX_CONCURRENCY and CLAUDE_GUARD_MAX_QUEUE', async () => {
    // Tokens 30 s apart: a committed stream holds its slot until the test cancels it, on no real-time margin.
    app = await start(
      {
        PORT: '0',
        FAKE_ANTHROPIC_TOKEN_DELAY_MS: '30000',
        CLAUDE_GUARD_MAX_CONCURRENCY: '1',
        CLAUDE_GUARD_MAX_QUEUE: '0',
      },
      silent,
    );
    const url = app.url;
    const post = (path: string, body: unknown) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const proxyBody = {
      model: 'claude-sonnet-5',
      max_tokens: 10,
      stream: true,
      messages: [{ role: 'user', content: 'x' }],
    };
    for (const [path, body] of [
      ['/v1/messages', proxyBody],
      ['/chat', { message: 'x', stream: true }],
    ] as const) {
      const holding = await post(path, body);
      expect(holding.status).toBe(200);
      const refused = await post(path, body);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(((await refused.json()) as { error: { type: string } }).error.type).toBe('overloaded_error');
      await holding.body?.cancel();
    }
    const status = (await (await fetch(`${url}/guard/status`)).json()) as {
      admission: { queues: { key: string; maxConcurrency: number }[]; clients: unknown[] };
    };
    // /chat-direct (guard.middleware()) has its own, as a route of the guard like /chat.
    expect(status.admission.queues.map((q) => [q.key, q.maxConcurrency]).sort()).toEqual([
      ['chat', 1],
      ['chat-direct', 1],
      ['proxy', 1],
    ]);
    // Rate-limit awareness is on by default: the fake's headers were read.
    expect(status.admission.clients).toHaveLength(1);
  });
});

describe.each(['express', 'hono'])('pnpm --dir examples/%s start', (name) => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    // pnpm starts tsx, which starts node: end the whole process group.
    if (child?.pid) process.kill(-child.pid, 'SIGTERM');
    child = undefined;
  });

  it('starts, says what it talks to, and answers', async () => {
    child = spawn('npx', ['-y', 'pnpm@10.34.9', '--dir', `examples/${name}`, 'start'], {
      cwd: root,
      env: { ...process.env, PORT: '0', ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: '' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed:\n${output}`)), 30_000);
      child!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (match && output.includes('Claude calls go to')) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child!.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    });
    expect(output).toContain('embedded fake-anthropic');
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true });
  }, 45_000);
});

import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard } from '@claude-guard/core';
import { claudeGuard, claudeGuardErrorHandler, claudeProxy, guarded } from '@claude-guard/express';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { textOf } from '../support/index.js';

let fake: FakeAnthropic;
let server: Server;
let base: string;
let guard: ReturnType<typeof createClaudeGuard>;

beforeEach(async () => {
  fake = await createFakeAnthropic();
  guard = createClaudeGuard({
    client: new Anthropic({ apiKey: 'sk-ant-test-secret', baseURL: fake.url }),
    retry: { baseDelayMs: 1, maxDelayMs: 2 },
  });
  const app = express();
  app.use(express.json());
  app.post('/v1/messages', claudeProxy(guard, { route: 'proxy' }));
  app.post(
    '/chat',
    claudeGuard(guard, { route: 'chat' }),
    guarded(async (req, res) => {
      const message = await req.claude.messages.create({
        model: 'claude-sonnet-5',
        max_tokens: 50,
        messages: [{ role: 'user', content: String(req.body.message) }],
      });
      res.json({
        text: textOf(message),
        request_id: req.claude.requestId,
      });
    }),
  );
  app.use(claudeGuardErrorHandler(guard));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  guard.close();
  await new Promise((r) => server.close(r));
  await fake.close();
});

describe('smoke', () => {
  it('proxies non-streaming with retries', async () => {
    fake.enqueue(529, 'ok');
    const client = new Anthropic({ apiKey: 'x', baseURL: base, maxRetries: 0 });
    const msg = await client.messages.create({
      model: 'claude-sonnet-5',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'hello there world' }],
    });
    expect(msg.content[0]).toMatchObject({ type: 'text' });
    expect(fake.requests.length).toBe(2);
    expect(fake.requests.map((r) => r.headers['x-stainless-retry-count'])).toEqual(['0', '0']);
  });
  it('streams through the proxy', async () => {
    fake.enqueue(529, 'ok');
    const client = new Anthropic({ apiKey: 'x', baseURL: base, maxRetries: 0 });
    const stream = client.messages.stream({
      model: 'claude-sonnet-5',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'hello there world' }],
    });
    const text = await stream.finalText();
    expect(text.length).toBeGreaterThan(0);
    expect(fake.requests.length).toBe(2);
  });
  it('chat route', async () => {
    const res = await fetch(`${base}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'hi you' }),
    });
    const body = await res.json();
    expect(res.status).toBe(200);
    expect(body.text.length).toBeGreaterThan(0);
    fake.enqueue(400);
    const bad = await fetch(`${base}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'hi you' }),
    });
    expect(bad.status).toBe(400);
    const badBody = await bad.json();
    expect(badBody.type).toBe('error');
    expect(bad.headers.get('x-should-retry')).toBe('false');
  });
});

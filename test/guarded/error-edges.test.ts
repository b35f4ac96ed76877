import { createClaudeGuard } from '@claude-guard/core';
import { claudeGuardErrorHandler, claudeProxy } from '@claude-guard/express';
import { createFakeAnthropic } from '@claude-guard/fake-anthropic';
import Anthropic from '@anthropic-ai/sdk';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ADAPTERS, NO_RESERVE, messagesBody, useStack } from '../support/index.js';

describe('express.json() in front of the passthrough', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  /**
   * `route`: the parser on the passthrough's own route. `app`: mounted app-wide, it fails before Express
   * has matched a route, so its errors are the guard's to answer only with `allRoutes`.
   */
  async function start(parser: 'route' | 'app' | 'app, allRoutes' = 'route') {
    const fake = await createFakeAnthropic();
    const guard = createClaudeGuard({ client: new Anthropic({ apiKey: 'k', baseURL: fake.url }) });
    const app = express();
    const json = express.json({ limit: '1kb' });
    if (parser === 'route') app.post('/v1/messages', json, claudeProxy(guard, { route: 'proxy' }));
    else app.use(json).post('/v1/messages', claudeProxy(guard, { route: 'proxy' }));
    app.use(claudeGuardErrorHandler(guard, { allRoutes: parser === 'app, allRoutes' }));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      guard.close();
      await fake.close();
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { fake, base };
  }

  it('answers invalid JSON Anthropic-shaped (no HTML, no stack) and never calls Claude', async () => {
    const { fake, base } = await start();
    const response = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'edge-1' },
      body: '{"model": ',
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'The request body is not valid JSON' },
      request_id: 'edge-1',
    });
    expect(fake.requests).toHaveLength(0);
  });

  it("answers body-parser's size limit with 413 request_too_large", async () => {
    const { fake, base } = await start();
    const response = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(messagesBody({ metadata: { pad: 'x'.repeat(4000) } })),
    });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe('request_too_large');
    expect(fake.requests).toHaveLength(0);
  });

  it.each(['route', 'app'] as const)('still proxies a valid body that the parser (%s) already read', async (parser) => {
    const { fake, base } = await start(parser);
    const response = await fetch(`${base}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(messagesBody()),
    });
    expect(response.status).toBe(200);
    expect(fake.requests).toHaveLength(1);
  });

  it("leaves an app-wide parser's error to Express (no route matched yet), and answers it with allRoutes", async () => {
    const send = async (base: string) =>
      fetch(`${base}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    const passedOn = await send((await start('app')).base);
    expect(passedOn.status).toBe(400);
    expect(passedOn.headers.get('content-type')).toMatch(/^text\/html/);
    const answered = await send((await start('app, allRoutes')).base);
    expect(answered.status).toBe(400);
    expect(((await answered.json()) as { error: { message: string } }).error.message).toBe(
      'The request body is not valid JSON',
    );
  });
});

describe.each(ADAPTERS)('%s: error edges', (adapter) => {
  const start = useStack(NO_RESERVE);

  it('retries a 200 whose body is malformed JSON, as an upstream failure', async () => {
    const h = await start(adapter);
    h.fake.enqueue({ kind: 'malformed' }, 'ok');
    const result = await h.proxy();
    expect(result.status).toBe(200);
    expect(h.fake.requests).toHaveLength(2);
  });

  it('answers 502 api_error when every body is malformed, and counts it against the breaker', async () => {
    const h = await start(adapter);
    h.fake.enqueue({ kind: 'malformed' }, { kind: 'malformed' }, { kind: 'malformed' });
    const result = await h.proxy();
    expect(result.status).toBe(502);
    expect(result.body.error.type).toBe('api_error');
    expect(h.guard.status().breakers.find((b) => b.key === 'proxy')?.counts.failures).toBe(3);
  });

  it("sets request-id on errors: the upstream's when it answered, ours otherwise", async () => {
    const h = await start(adapter);
    h.fake.enqueue(400);
    const upstream = await h.proxy();
    expect(upstream.status).toBe(400);
    expect(upstream.headers.get('request-id')).toBe(h.fake.requests[0]!.id);
    const local = await h.proxy({ 'x-request-timeout-ms': 'soon', 'x-request-id': 'mine-1' });
    expect(local.status).toBe(400);
    expect(local.headers.get('request-id')).toBe('mine-1');
  });

  it('reads and echoes a custom requestIdHeader under its own name, on success and on errors', async () => {
    const h = await start(adapter, { guard: { requestIdHeader: 'x-correlation-id' } });
    const ok = await h.proxy({ 'x-correlation-id': 'corr-1' });
    expect(ok.headers.get('x-correlation-id')).toBe('corr-1');
    const chat = await h.chat({ 'x-correlation-id': 'corr-2' });
    expect(chat.headers.get('x-correlation-id')).toBe('corr-2');
    h.fake.enqueue(404);
    const failed = await h.proxy({ 'x-correlation-id': 'corr-3' });
    expect(failed.status).toBe(404);
    expect(failed.headers.get('x-correlation-id')).toBe('corr-3');
    expect(failed.body.request_id).toBe('corr-3');
  });

  it('logs a retry refused by the budget as retry-budget-exhausted', async () => {
    // A reserve of one retry in the window, and no share of traffic.
    const h = await start(adapter, { guard: { retryBudget: { minRetriesPerSecond: 0.1, percentCanRetry: 0 } } });
    h.fake.setDefault({ faultRate: 1, fault: 529 });
    const result = await h.proxy();
    expect(result.status).toBe(529);
    await h.waitForLogs(1);
    expect(h.logs[0]!.record).toMatchObject({ outcome: 'retry-budget-exhausted', attempts: 2 });
    expect(h.fake.requests).toHaveLength(2);
  });
});

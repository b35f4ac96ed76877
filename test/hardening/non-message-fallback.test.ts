import type { RouteOptions } from '@claude-guard/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  healthyMessage,
  params,
  startHostileUpstream,
  startStack,
  type AdapterName,
  type HostileUpstream,
  type Stack,
} from '../support/index.js';

// Issue 10 item 5, the fallback model: a route's `fallback: { model }` is one more SDK call, and its
// answer must be a Message too. A page from the fallback model is no fallback: the original 502 stands.

const KEY = 'sk-ant-api03-hardening-item-5-fallback';
const MARKER = 'FALLBACK-PAGE-MARKER';
const FALLBACK_MODEL = 'claude-haiku-4-5';
const MAX_ATTEMPTS = 2;
const ROUTE: Omit<RouteOptions, 'route'> = {
  fallback: { model: FALLBACK_MODEL },
  retry: { maxAttempts: MAX_ATTEMPTS },
};

/** The passthrough and a guarded route, both with {@link ROUTE}, on a guard pointed at `upstreamUrl`. */
function startApp(adapter: AdapterName, upstreamUrl: string): Promise<Stack> {
  return startStack({ adapter, upstreamUrl, apiKey: KEY, proxy: ROUTE, chat: ROUTE });
}

const PATHS = [
  { path: '/v1/messages', body: () => params() },
  { path: '/chat', body: () => ({ message: 'hi' }) },
] as const;

describe.each(ADAPTERS)('%s: the fallback model answers with something that is not a Message', (adapter) => {
  let upstream: HostileUpstream | undefined;
  let app: Stack | undefined;
  afterEach(async () => {
    await app?.close();
    await upstream?.close();
    app = undefined;
    upstream = undefined;
  });

  describe.each(PATHS)('$path', ({ path, body }) => {
    it('a page from every model: the 502 stands, nothing of the page is forwarded', async () => {
      upstream = await startHostileUpstream(({ res, key }) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<html>${MARKER} ${key}</html>`);
      });
      app = await startApp(adapter, upstream.url);

      const response = await fetch(`${app.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body()),
      });
      const text = await response.text();
      expect(response.status).toBe(502);
      expect(JSON.parse(text)).toMatchObject({
        type: 'error',
        error: { type: 'api_error', message: expect.stringContaining('with something that is not a Message') },
      });
      // The route's attempts, then the one fallback call.
      expect(upstream.requests()).toBe(MAX_ATTEMPTS + 1);
      expect(await app.logLine(0)).toMatchObject({ status: 502, outcome: 'upstream-error' });
      const seen = [text, JSON.stringify(app.logs)].join('\n');
      expect(seen).not.toContain(KEY);
      expect(seen).not.toContain(MARKER);
    });

    it('pages from the route model, a Message from the fallback model: the fallback answers', async () => {
      upstream = await startHostileUpstream(({ res, body: sent }) => {
        if ((JSON.parse(sent) as { model: string }).model === FALLBACK_MODEL) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ...healthyMessage('from the fallback'), model: FALLBACK_MODEL }));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<html>${MARKER}</html>`);
      });
      app = await startApp(adapter, upstream.url);

      const response = await fetch(`${app.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body()),
      });
      expect(response.status).toBe(200);
      const answer = (await response.json()) as { text?: string; content?: { text: string }[] };
      expect(answer.text ?? answer.content?.[0]?.text).toBe('from the fallback');
      expect(upstream.requests()).toBe(MAX_ATTEMPTS + 1);
      expect(await app.logLine(0)).toMatchObject({ status: 200, outcome: 'fallback', model: FALLBACK_MODEL });
    });
  });
});

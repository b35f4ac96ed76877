import { afterEach, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import {
  ADAPTERS,
  healthyMessage,
  params,
  startHostileUpstream,
  startStack,
  type HostileRequest,
  type HostileUpstream,
  type Stack,
} from '../support/index.js';

// Issue 10 item 5 and the non-streaming part of item 9: a non-streaming 200 whose body is not a
// Message (another content type, another JSON value, a body that cannot be decoded) is an upstream
// failure: retried, then 502 api_error in our own words, and nothing of that body reaches anyone.

const KEY = 'sk-ant-api03-hardening-item-5-key';
// A string every hostile body carries, so a test can tell whether any part of the body got through.
const MARKER = 'HOSTILE-PAGE-MARKER';
const MAX_ATTEMPTS = 3;
const NOT_A_MESSAGE = 'with something that is not a Message';
const UNDECODABLE = 'with a body that could not be decoded';

interface BodyCase {
  name: string;
  headers: Record<string, string>;
  /** The body; given the key the guard sent, so a page can echo it. */
  body: (key: string) => string | Buffer;
  /** The wording the client should see. */
  wording: string;
  /** The body carries the key and the marker (a bare `42` or `[]` cannot). */
  carriesSecrets: boolean;
}

const page = (key: string) => `<html><body>${MARKER} your key is ${key}</body></html>`;

const CASES: BodyCase[] = [
  {
    name: 'text/html',
    headers: { 'content-type': 'text/html' },
    body: page,
    wording: NOT_A_MESSAGE,
    carriesSecrets: true,
  },
  {
    name: 'text/plain',
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body: (key) => `${MARKER} ${key}`,
    wording: NOT_A_MESSAGE,
    carriesSecrets: true,
  },
  {
    name: 'application/octet-stream',
    headers: { 'content-type': 'application/octet-stream' },
    body: (key) => `${MARKER}\u0000${key}`,
    wording: NOT_A_MESSAGE,
    carriesSecrets: true,
  },
  {
    name: 'text/event-stream',
    headers: { 'content-type': 'text/event-stream' },
    body: (key) => `event: ping\ndata: {"type":"ping","note":"${MARKER} ${key}"}\n\n`,
    wording: NOT_A_MESSAGE,
    carriesSecrets: true,
  },
  { name: 'no content type', headers: {}, body: page, wording: NOT_A_MESSAGE, carriesSecrets: true },
  ...['[]', '{}', '42', 'null', 'true'].map<BodyCase>((json) => ({
    name: `JSON ${json}`,
    headers: { 'content-type': 'application/json' },
    body: () => json,
    wording: NOT_A_MESSAGE,
    carriesSecrets: false,
  })),
  {
    name: 'JSON string',
    headers: { 'content-type': 'application/json' },
    body: (key) => JSON.stringify(`${MARKER} ${key}`),
    wording: NOT_A_MESSAGE,
    carriesSecrets: true,
  },
  {
    name: 'JSON error object',
    headers: { 'content-type': 'application/json' },
    body: (key) => JSON.stringify({ type: 'error', error: { type: 'api_error', message: `${MARKER} ${key}` } }),
    wording: NOT_A_MESSAGE,
    carriesSecrets: true,
  },
  {
    name: 'JSON Message without usage',
    headers: { 'content-type': 'application/json' },
    body: (key) => JSON.stringify({ ...healthyMessage(`${MARKER} ${key}`), usage: undefined }),
    wording: NOT_A_MESSAGE,
    carriesSecrets: true,
  },
  {
    name: 'JSON Message whose content holds a null',
    headers: { 'content-type': 'application/json' },
    body: (key) => JSON.stringify({ ...healthyMessage(`${MARKER} ${key}`), content: [null] }),
    wording: NOT_A_MESSAGE,
    carriesSecrets: true,
  },
  {
    name: 'empty JSON (content-length 0)',
    headers: { 'content-type': 'application/json', 'content-length': '0' },
    body: () => '',
    wording: NOT_A_MESSAGE,
    carriesSecrets: false,
  },
  {
    name: 'corrupt gzip',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: (key) => Buffer.from(`not gzip at all ${MARKER} ${key}`),
    wording: UNDECODABLE,
    carriesSecrets: true,
  },
  {
    name: 'corrupt deflate',
    headers: { 'content-type': 'application/json', 'content-encoding': 'deflate' },
    body: (key) => Buffer.from(`not deflate at all ${MARKER} ${key}`),
    wording: UNDECODABLE,
    carriesSecrets: true,
  },
  {
    name: 'gzip of an HTML page',
    headers: { 'content-type': 'text/html', 'content-encoding': 'gzip' },
    body: (key) => gzipSync(page(key)),
    wording: NOT_A_MESSAGE,
    carriesSecrets: true,
  },
];

/** The two guarded ways a non-streaming create is reached: the passthrough and a route handler. */
const PATHS = [
  { path: '/v1/messages', route: 'proxy', body: () => params() },
  { path: '/chat', route: 'chat', body: () => ({ message: 'hi' }) },
] as const;

function answerWith(upstream: BodyCase) {
  return ({ res, key }: Pick<HostileRequest, 'res' | 'key'>) => {
    const body = upstream.body(key);
    const headers: Record<string, string> = { ...upstream.headers };
    headers['content-length'] ??= String(Buffer.byteLength(body));
    res.writeHead(200, headers);
    res.end(body);
  };
}

describe.each(ADAPTERS)('%s: a non-streaming 200 that is not a Message', (adapter) => {
  let upstream: HostileUpstream | undefined;
  let h: Stack | undefined;
  afterEach(async () => {
    await h?.close();
    await upstream?.close();
    h = undefined;
    upstream = undefined;
  });

  describe.each(PATHS)('$path', ({ path, route, body }) => {
    it.each(CASES)('$name: retried, then 502 api_error, never forwarded', async (bodyCase) => {
      upstream = await startHostileUpstream(answerWith(bodyCase));
      h = await startStack({ adapter, upstreamUrl: upstream.url, apiKey: KEY });

      const response = await h.post(path, body());
      const text = await response.text();
      expect(response.status).toBe(502);
      const parsed = JSON.parse(text) as { type: string; error: { type: string; message: string } };
      expect(parsed.type).toBe('error');
      expect(parsed.error.type).toBe('api_error');
      expect(parsed.error.message).toContain(`The Claude API answered 200 ${bodyCase.wording}`);
      expect(parsed.error.message).toContain(`route '${route}', ${MAX_ATTEMPTS} attempts`);
      expect(upstream.requests()).toBe(MAX_ATTEMPTS);

      const line = await h.logLine(0);
      expect(line).toMatchObject({ status: 502, outcome: 'upstream-error', attempts: MAX_ATTEMPTS });
      const breaker = h.guard.status().breakers.find((b) => b.key === route);
      expect(breaker?.counts.failures).toBe(MAX_ATTEMPTS);

      const seen = [text, ...response.headers.values(), JSON.stringify(h.logs), JSON.stringify(h.events)].join('\n');
      expect(seen).not.toContain(KEY);
      if (bodyCase.carriesSecrets) expect(seen).not.toContain(MARKER);
    });

    it('a body that is not a Message once, then a Message: the retry answers 200', async () => {
      upstream = await startHostileUpstream((request) => {
        if (request.index === 0) {
          answerWith(CASES[0]!)(request);
          return;
        }
        request.res.writeHead(200, { 'content-type': 'application/json' });
        request.res.end(JSON.stringify(healthyMessage('fine')));
      });
      h = await startStack({ adapter, upstreamUrl: upstream.url, apiKey: KEY });

      const response = await h.post(path, body());
      expect(response.status).toBe(200);
      const answer = (await response.json()) as { text?: string; content?: { text: string }[] };
      expect(answer.text ?? answer.content?.[0]?.text).toBe('fine');
      expect(upstream.requests()).toBe(2);
      expect(await h.logLine(0)).toMatchObject({ status: 200, outcome: 'ok', attempts: 2 });
    });
  });
});

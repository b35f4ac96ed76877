import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyForms, keyLeaks } from '../security/sweep.js';
import type { GuardEvent } from '@claude-guard/core';
import {
  ADAPTERS,
  MODEL,
  healthyMessage,
  healthyStream,
  sse,
  startHostileUpstream,
  startStack,
  type HostileRequest,
  type HostileUpstream,
  type Stack,
} from '../support/index.js';

// Issue 10 item 3: an upstream that writes the key back, in any encoding, into a header we forward
// (`request-id`, the rate-limit family) or into an error message, must not get it to the client,
// the log line or an event.

const KEYS = [
  // The `~` makes base64 and base64url differ (`+` against `-`).
  { name: 'an sk-ant key', key: 'sk-ant-api03-Hj5Ww2Ee8Rr1Tt4Yy7Qp0Zx3Vb6Nm9Lk2-Jh5Gf8Dd1~Ss4AA' },
  // Base62 only: `req_` + the key has a request id's shape, so only the secret check can stop it.
  { name: 'a base62 key', key: 'corpToken9Hj5Ww2Ee8Rr1Tt4Yy7Qp0Zx3Vb6Nmz' },
];

const RATE_LIMIT_NAMES = ['requests', 'tokens', 'input-tokens', 'output-tokens'].flatMap((family) =>
  ['limit', 'remaining', 'reset'].map((field) => `anthropic-ratelimit-${family}-${field}`),
);
const GOOD_ID = 'req_011CSHoEeqs5C35K2UUqR7Fy';

/** What the upstream does; the client names it (and the key form) in its prompt. */
const SCENARIOS = [
  'request-id',
  'request-id-prefixed',
  'request-id-on-400',
  'request-id-on-500',
  'rate-limit',
  'rate-limit-on-429',
  'message-400',
  'message-in-band',
  'message-in-band-first',
  'message-in-band-first-4xx',
] as const;
type Scenario = (typeof SCENARIOS)[number];

interface Variant {
  name: string;
  path: '/v1/messages' | '/chat';
  stream: boolean;
  body: (prompt: string) => Record<string, unknown>;
}

const VARIANTS: readonly Variant[] = [
  { name: 'proxy', path: '/v1/messages', stream: false, body: (prompt) => messageBody(prompt, false) },
  { name: 'proxy stream', path: '/v1/messages', stream: true, body: (prompt) => messageBody(prompt, true) },
  { name: 'chat', path: '/chat', stream: false, body: (message) => ({ message }) },
  { name: 'chat stream', path: '/chat', stream: true, body: (message) => ({ message, stream: true }) },
];

function messageBody(content: string, stream: boolean): Record<string, unknown> {
  return { model: MODEL, max_tokens: 16, stream, messages: [{ role: 'user', content }] };
}

function rateLimitHeaders(value: string): Record<string, string> {
  return Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [name, value]));
}

function ok(res: ServerResponse, stream: boolean, headers: Record<string, string>): void {
  if (stream) {
    res.writeHead(200, { 'content-type': 'text/event-stream', ...headers });
    res.end(healthyStream());
  } else {
    res.writeHead(200, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(healthyMessage()));
  }
}

function fail(
  res: ServerResponse,
  status: number,
  type: string,
  message: string,
  headers: Record<string, string>,
  bodyRequestId: string,
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ type: 'error', error: { type, message }, request_id: bodyRequestId }));
}

/** A stream failing in-band: before any event, or once the guard has committed (`committed` resolves). */
async function inBand(
  res: ServerResponse,
  type: string,
  message: string,
  committed: (() => Promise<void>) | undefined,
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': GOOD_ID });
  if (committed) {
    res.write(healthyStream().split('event: content_block_delta')[0]!);
    await committed();
  }
  res.end(sse('error', { type: 'error', error: { type, message } }));
}

/** Resolves once `events` holds one more `stream-committed` than it does now. */
function nextCommit(events: readonly GuardEvent[]): () => Promise<void> {
  const count = (): number => events.filter((event) => event.type === 'stream-committed').length;
  const before = count();
  return async () => {
    for (let i = 0; i < 1_000 && count() === before; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  };
}

/**
 * The hostile upstream: reads `<scenario> <form>` from the prompt and echoes the key in that form.
 * `events` are the guard's, to send an in-band error only after the stream committed.
 */
const hostile = (events: readonly GuardEvent[]) =>
  async function answer({ res, body, key }: HostileRequest): Promise<void> {
    const request = JSON.parse(body) as { stream?: boolean; messages: { content: string }[] };
    const [scenario, formName] = request.messages[0]!.content.split(' ') as [Scenario, string];
    const form = keyForms(key).find((candidate) => candidate.name === formName)?.value ?? key;
    const stream = request.stream === true;
    switch (scenario) {
      case 'request-id':
        return ok(res, stream, { 'request-id': form });
      case 'request-id-prefixed':
        return ok(res, stream, { 'request-id': `req_${form}` });
      case 'request-id-on-400':
        return fail(res, 400, 'invalid_request_error', 'Bad request', { 'request-id': `req_${form}` }, form);
      case 'request-id-on-500':
        return fail(res, 500, 'api_error', 'Internal server error', { 'request-id': form }, form);
      case 'rate-limit':
        return ok(res, stream, { 'request-id': GOOD_ID, ...rateLimitHeaders(form) });
      case 'rate-limit-on-429':
        return fail(
          res,
          429,
          'rate_limit_error',
          'Rate limited',
          { 'retry-after': '0', ...rateLimitHeaders(form) },
          '',
        );
      case 'message-400':
        return fail(res, 400, 'invalid_request_error', `invalid x-api-key: ${form} (check it)`, {}, GOOD_ID);
      case 'message-in-band':
        if (!stream) return fail(res, 529, 'overloaded_error', `Overloaded ${form}`, { 'request-id': GOOD_ID }, form);
        return inBand(res, 'invalid_request_error', `bad: ${form}`, nextCommit(events));
      case 'message-in-band-first':
        if (!stream) return fail(res, 403, 'permission_error', `not for ${form}`, { 'request-id': GOOD_ID }, form);
        return inBand(res, 'overloaded_error', `Overloaded ${form}`, undefined);
      case 'message-in-band-first-4xx':
        // Before a commit the passthrough may answer with the upstream's own (redacted) 4xx message.
        if (!stream) return fail(res, 404, 'not_found_error', `model for ${form}`, { 'request-id': GOOD_ID }, form);
        return inBand(res, 'invalid_request_error', `invalid x-api-key: ${form}`, undefined);
    }
  };

interface Exchange {
  where: string;
  status: number;
  headers: Headers;
  text: string;
}

async function send(h: Stack, variant: Variant, prompt: string): Promise<Exchange> {
  const response = await h.post(variant.path, variant.body(prompt));
  return {
    where: `${variant.name} ${prompt}`,
    status: response.status,
    headers: response.headers,
    text: await response.text(),
  };
}

function everything(exchange: Exchange): string {
  const lines: string[] = [];
  exchange.headers.forEach((value, name) => lines.push(`${name}: ${value}`));
  return `${lines.join('\n')}\n\n${exchange.text}`;
}

describe.each(ADAPTERS)('the key in any form never gets through (%s)', (adapter) => {
  describe.each(KEYS)('with $name', ({ key }) => {
    let upstream: HostileUpstream;
    let h: Stack;
    let sent = 0;

    beforeAll(async () => {
      upstream = await startHostileUpstream(() => undefined);
      h = await startStack({
        adapter,
        upstreamUrl: upstream.url,
        apiKey: key,
        guard: {
          // Every scenario must reach the upstream: no breaker opening on the repeated 5xx.
          breaker: { enabled: false },
          retry: { maxAttempts: 2 },
        },
      });
      upstream.setHandler(hostile(h.events));
    });
    afterAll(async () => {
      await h.close();
      await upstream.close();
    });

    it('the forms differ from each other (the test would prove nothing otherwise)', () => {
      const values = keyForms(key).map((form) => form.value);
      expect(new Set(values).size).toBe(values.length);
    });

    it.each(keyForms(key).map((form) => [form.name] as const))(
      'echoed %s in request-id, rate-limit headers, 4xx and in-band messages: in no header, body, log line or event',
      async (formName) => {
        const exchanges: Exchange[] = [];
        for (const scenario of SCENARIOS) {
          for (const variant of VARIANTS) exchanges.push(await send(h, variant, `${scenario} ${formName}`));
        }
        sent += exchanges.length;
        await h.logLine(sent - 1);

        for (const exchange of exchanges) expect(keyLeaks(everything(exchange), key), exchange.where).toEqual([]);
        const records = [...h.logs, ...h.events].map((record) => JSON.stringify(record)).join('\n');
        expect(keyLeaks(records, key)).toEqual([]);

        // Each scenario did what it says: the passthrough forwarded the 400 message, redacted.
        const forwarded = exchanges.filter((e) => e.where.startsWith('proxy') && e.where.includes('message-400 '));
        for (const exchange of forwarded) {
          expect(exchange.status).toBe(400);
          expect(exchange.text).toContain('invalid x-api-key: [redacted] (check it)');
        }
        for (const exchange of exchanges.filter((e) => e.where.includes(' rate-limit'))) {
          for (const name of RATE_LIMIT_NAMES) expect(exchange.headers.get(name), exchange.where).toBeNull();
        }
        for (const exchange of exchanges.filter((e) => e.where.includes(' request-id'))) {
          expect(exchange.headers.get('x-upstream-request-id'), exchange.where).toBeNull();
        }
        for (const exchange of exchanges.filter((e) => e.where.includes(' message-in-band '))) {
          if (exchange.where.includes('stream')) expect(exchange.text, exchange.where).toMatch(/^event: error$/m);
        }
      },
    );
  });
});

describe.each(ADAPTERS)('well-formed upstream headers are still forwarded (%s)', (adapter) => {
  let upstream: HostileUpstream;
  let h: Stack;
  const good: Record<string, string> = {
    'anthropic-ratelimit-requests-limit': '50',
    'anthropic-ratelimit-requests-remaining': '0',
    'anthropic-ratelimit-requests-reset': '2026-01-01T00:01:00Z',
    'anthropic-ratelimit-tokens-reset': '2026-01-01T00:01:00.123+02:00',
  };
  const bad: Record<string, string> = {
    'anthropic-ratelimit-tokens-limit': '1e3',
    'anthropic-ratelimit-tokens-remaining': '-1',
    'anthropic-ratelimit-input-tokens-limit': '12.5',
    'anthropic-ratelimit-input-tokens-remaining': '99999999999999999999999',
    'anthropic-ratelimit-input-tokens-reset': 'tomorrow',
    'anthropic-ratelimit-output-tokens-reset': '2026-13-45T99:99:99Z',
    'anthropic-ratelimit-unknown-limit': '5',
  };

  beforeAll(async () => {
    upstream = await startHostileUpstream(({ res, body }) => {
      const stream = (JSON.parse(body) as { stream?: boolean }).stream === true;
      ok(res, stream, { 'request-id': GOOD_ID, ...good, ...bad });
    });
    h = await startStack({ adapter, upstreamUrl: upstream.url });
  });
  afterAll(async () => {
    await h.close();
    await upstream.close();
  });

  it.each([false, true])(
    'passthrough (stream: %s): the id and the valid rate-limit values, nothing else',
    async (stream) => {
      const before = h.logs.length;
      const exchange = await send(h, VARIANTS[stream ? 1 : 0]!, 'legit');
      expect(exchange.status).toBe(200);
      expect(exchange.headers.get('request-id')).toBe(GOOD_ID);
      expect(exchange.headers.get('x-upstream-request-id')).toBe(GOOD_ID);
      for (const [name, value] of Object.entries(good)) expect(exchange.headers.get(name), name).toBe(value);
      for (const name of Object.keys(bad)) expect(exchange.headers.get(name), name).toBeNull();
      expect((await h.logLine(before)).upstreamRequestId).toBe(GOOD_ID);
    },
  );
});

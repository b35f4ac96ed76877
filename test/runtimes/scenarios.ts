import Anthropic from '@anthropic-ai/sdk';
import { createFakeAnthropic, type FakeAnthropic, type RequestRecord } from '@claude-guard/fake-anthropic';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startExample, type ExampleProcess } from './example-process.js';
import type { RuntimeUnderTest, Scenario } from './runtimes.js';

/** The example's tuning for the scenarios (CLAUDE_GUARD_* are read by examples/shared/src/config.ts). */
const IDLE_MS = 600;
const HEARTBEAT_MS = 200;
const FIRST_EVENT_MS = 5_000;
const SLOW_START_MS = 1_500;
const DEADLINE_MS = 800;
const BREAKER_RESET_MS = 2_000;
const BREAKER_WINDOW_MS = 1_000;
/** How late an answer may be on a loaded two-core machine, past the time it is due. */
const SLACK_MS = 1_500;

const API_KEY = 'runtime-suite-key';
const PARAMS = {
  model: 'claude-sonnet-5',
  max_tokens: 64,
  messages: [{ role: 'user' as const, content: 'one two three four' }],
};

/**
 * The scenario suite, run against the Hono example started on `runtime` over real HTTP: the official
 * SDK is the client, fake-anthropic (in this process, so the test queues its faults and reads its
 * request log) the upstream. A scenario listed in `runtime.limits` asserts the documented behaviour.
 *
 * @example
 * ```ts
 * describeRuntime(RUNTIMES.deno);
 * ```
 */
export function describeRuntime(runtime: RuntimeUnderTest): void {
  describe(`the Hono example on ${runtime.name} (pnpm --dir examples/hono ${runtime.script})`, () => {
    let fake: FakeAnthropic;
    let expectedText: string;
    beforeAll(async () => {
      fake = await createFakeAnthropic({ replyWords: 12, apiKeys: [API_KEY] });
      const direct = new Anthropic({ apiKey: API_KEY, baseURL: fake.url, maxRetries: 0 });
      expectedText = textOf(await direct.messages.create(PARAMS));
    });
    afterAll(() => fake?.close());
    beforeEach(() => fake.reset());
    // A scenario's upstream requests must be over before the next one reads the log.
    afterEach(() => withTimeout(fake.settled(), 5_000, 'the upstream requests of the last scenario to end'));

    describe('with retries, heartbeats and idle timeouts', () => {
      let example: ExampleProcess;
      let client: Anthropic;
      beforeAll(async () => {
        example = await startExample(runtime, {
          ANTHROPIC_BASE_URL: fake.url,
          ANTHROPIC_API_KEY: API_KEY,
          // The breaker stays out of these scenarios.
          CLAUDE_GUARD_BREAKER_VOLUME: '1000',
          CLAUDE_GUARD_STREAM_IDLE_MS: String(IDLE_MS),
          CLAUDE_GUARD_STREAM_FIRST_EVENT_MS: String(FIRST_EVENT_MS),
          CLAUDE_GUARD_HEARTBEAT_MS: String(HEARTBEAT_MS),
        });
        client = new Anthropic({ apiKey: API_KEY, baseURL: example.url, maxRetries: 0 });
      }, 90_000);
      afterAll(() => example?.stop());

      scenario(runtime, 'json passthrough', async () => {
        const { data, response } = await client.messages.create(PARAMS).withResponse();
        expect(textOf(data)).toBe(expectedText);
        expect(response.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9._-]+$/);
        expect(fake.requests.map((r) => r.status)).toEqual([200]);
      });

      scenario(runtime, 'stream read by the SDK', async () => {
        const stream = client.messages.stream(PARAMS);
        expect(await stream.finalText()).toBe(expectedText);
        expect(fake.requests.map((r) => [r.stream, r.outcome])).toEqual([[true, 'completed']]);
      });

      scenario(runtime, '529 retried', async () => {
        fake.enqueue(529);
        expect(textOf(await client.messages.create(PARAMS))).toBe(expectedText);
        expect(fake.requests.map((r) => r.status)).toEqual([529, 200]);
      });

      scenario(runtime, 'in-band overloaded first event retried invisibly', async () => {
        fake.enqueue({ kind: 'in-band-error', afterEvents: 0, type: 'overloaded_error' });
        const events: string[] = [];
        const stream = client.messages.stream(PARAMS).on('streamEvent', (event) => events.push(event.type));
        expect(await stream.finalText()).toBe(expectedText);
        expect(events[0]).toBe('message_start');
        expect(fake.requests).toHaveLength(2);
        expect(fake.requests[0]!.fault).toMatchObject({ kind: 'in-band-error' });
      });

      scenario(runtime, 'stall ends in an in-band error within the idle timeout', async () => {
        // message_start, content_block_start, ping, two deltas: committed, then silence.
        fake.enqueue({ kind: 'stall', afterEvents: 5 });
        let lastEventAt = performance.now();
        const stream = client.messages.stream(PARAMS).on('streamEvent', () => (lastEventAt = performance.now()));
        const error = await stream.finalText().then(
          () => undefined,
          (reason: unknown) => reason,
        );
        const silence = performance.now() - lastEventAt;
        expect(error).toBeInstanceOf(Anthropic.APIError);
        expect((error as Error).message).toMatch(/stalled/);
        expect(silence).toBeGreaterThanOrEqual(IDLE_MS - 50);
        expect(silence).toBeLessThan(IDLE_MS + SLACK_MS);
        expect(await ended(fake.requests[0]!)).toBe('client-aborted');
      });

      scenario(runtime, 'heartbeat while the upstream is slow to start', async () => {
        fake.enqueue({ kind: 'slow', firstEventDelayMs: SLOW_START_MS });
        const started = performance.now();
        const { data: stream, response } = await client.messages.create({ ...PARAMS, stream: true }).withResponse();
        // The headers went out with the first heartbeat, long before the upstream's first event.
        expect(response.status).toBe(200);
        expect(performance.now() - started).toBeLessThan(SLOW_START_MS - 300);
        let text = '';
        for await (const event of stream) {
          if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
        }
        expect(text).toBe(expectedText);

        // The raw stream: pings every heartbeatMs until message_start.
        fake.reset();
        fake.enqueue({ kind: 'slow', firstEventDelayMs: SLOW_START_MS });
        const raw = await fetch(`${example.url}/v1/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
          body: JSON.stringify({ ...PARAMS, stream: true }),
        });
        const names = eventNames(await raw.text());
        const beforeStart = names.slice(0, names.indexOf('message_start'));
        expect(beforeStart.length).toBeGreaterThanOrEqual(3);
        expect(new Set(beforeStart)).toEqual(new Set(['ping']));
      });

      scenario(runtime, 'client disconnect aborts the upstream', async () => {
        // 40 words at 100 ms: four seconds of stream, of which the client reads three deltas.
        fake.setDefault({ replyWords: 40, tokenDelayMs: 100 });
        const controller = new AbortController();
        let deltas = 0;
        const stream = client.messages.stream({ ...PARAMS, max_tokens: 100 }, { signal: controller.signal });
        stream.on('streamEvent', (event) => {
          if (event.type === 'content_block_delta' && (deltas += 1) === 3) controller.abort();
        });
        await stream.finalText().catch(() => undefined);
        const abortedAt = performance.now();
        const record = fake.requests[0]!;
        expect(await ended(record)).toBe('client-aborted');
        // Stopped soon after the client left, far from the end of the reply.
        expect(record.endedAt! - abortedAt).toBeLessThan(1_000);
        expect(record.eventsSent).toBeLessThan(20);
      });

      scenario(runtime, 'deadline header honoured: 504 on time', async () => {
        // No headers ever come back for a non-streaming request.
        fake.enqueue({ kind: 'stall', afterEvents: 0 });
        const started = performance.now();
        const error = await client.messages
          .create(PARAMS, { headers: { 'x-request-timeout-ms': String(DEADLINE_MS) } })
          .then(
            () => undefined,
            (reason: unknown) => reason,
          );
        const took = performance.now() - started;
        expect(error).toBeInstanceOf(Anthropic.APIError);
        expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(504);
        expect(took).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
        expect(took).toBeLessThan(DEADLINE_MS + SLACK_MS);
        expect(await ended(fake.requests[0]!)).toBe('client-aborted');
      });

      scenario(runtime, 'a guard.middleware() client in a handler: request context, retries, deadline', async () => {
        // POST /chat-direct calls a client built with guard.middleware(), never c.var.claude: the request's
        // id and deadline reach it through AsyncLocalStorage.
        const post = (headers: Record<string, string> = {}) =>
          fetch(`${example.url}/chat-direct`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...headers },
            body: JSON.stringify({ message: PARAMS.messages[0]!.content }),
          });
        fake.enqueue(529);
        const ok = await post();
        expect(ok.status).toBe(200);
        const body = (await ok.json()) as { text: string; request_id: string };
        expect(body.request_id).toBe(ok.headers.get('x-request-id'));
        expect(fake.requests.map((r) => r.status)).toEqual([529, 200]);
        fake.enqueue({ kind: 'stall', afterEvents: 0 });
        const late = await post({ 'x-request-timeout-ms': String(DEADLINE_MS) });
        expect(late.status).toBe(504);
        expect(((await late.json()) as { error: { type: string } }).error.type).toBe('timeout_error');
        expect(await ended(fake.requests[2]!)).toBe('client-aborted');
      });

      scenario(runtime, 'malformed deadline header: 400 without calling the upstream', async () => {
        const error = await client.messages.create(PARAMS, { headers: { 'x-request-timeout-ms': 'soon' } }).then(
          () => undefined,
          (reason: unknown) => reason,
        );
        expect(error).toBeInstanceOf(Anthropic.BadRequestError);
        expect((error as Error).message).toMatch(/x-request-timeout-ms/);
        expect(fake.requests).toHaveLength(0);
      });
    });

    describe('with a breaker that opens after two failures', () => {
      let example: ExampleProcess;
      let client: Anthropic;
      beforeAll(async () => {
        example = await startExample(runtime, {
          ANTHROPIC_BASE_URL: fake.url,
          ANTHROPIC_API_KEY: API_KEY,
          CLAUDE_GUARD_MAX_ATTEMPTS: '1',
          CLAUDE_GUARD_BREAKER_VOLUME: '2',
          CLAUDE_GUARD_BREAKER_RESET_MS: String(BREAKER_RESET_MS),
        });
        client = new Anthropic({ apiKey: API_KEY, baseURL: example.url, maxRetries: 0 });
      }, 90_000);
      afterAll(() => example?.stop());

      scenario(runtime, 'breaker opens: 503 with retry-after', async () => {
        fake.enqueue(529, 529);
        for (let i = 0; i < 2; i += 1) {
          await expect(client.messages.create(PARAMS)).rejects.toMatchObject({ status: 529 });
        }
        const started = performance.now();
        const refused = await client.messages.create(PARAMS).then(
          () => undefined,
          (reason: unknown) => reason as InstanceType<typeof Anthropic.APIError>,
        );
        expect(performance.now() - started).toBeLessThan(500);
        expect(refused?.status).toBe(503);
        const retryAfter = Number(refused?.headers?.get('retry-after'));
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(Math.ceil(BREAKER_RESET_MS / 1000));
        expect(fake.requests).toHaveLength(2);
      });

      scenario(runtime, 'breaker lets a trial through after resetTimeout', async () => {
        // Runs after the breaker opened (previous scenario): wait out resetTimeout, then one trial. The wait is
        // only a lower bound (a slow machine waits longer, which changes nothing); no timer of the example's
        // moves the breaker: a request asking after resetTimeout (here /guard/status) finds it half-open.
        const proxyState = async (): Promise<string | undefined> => {
          const status = (await (await fetch(`${example.url}/guard/status`)).json()) as {
            breakers: { key: string; state: string }[];
          };
          return status.breakers.find((b) => b.key === 'proxy')?.state;
        };
        expect(await proxyState()).toBe('open');
        await sleep(BREAKER_RESET_MS + 300);
        expect(await proxyState()).toBe('half-open');
        expect(textOf(await client.messages.create(PARAMS))).toBe(expectedText);
        expect(fake.requests).toHaveLength(1);
        expect(await proxyState()).toBe('closed');
      });
    });

    describe('with a breaker whose rolling window is one second', () => {
      let example: ExampleProcess;
      let client: Anthropic;
      beforeAll(async () => {
        example = await startExample(runtime, {
          ANTHROPIC_BASE_URL: fake.url,
          ANTHROPIC_API_KEY: API_KEY,
          CLAUDE_GUARD_MAX_ATTEMPTS: '1',
          CLAUDE_GUARD_BREAKER_VOLUME: '2',
          CLAUDE_GUARD_BREAKER_WINDOW_MS: String(BREAKER_WINDOW_MS),
        });
        client = new Anthropic({ apiKey: API_KEY, baseURL: example.url, maxRetries: 0 });
      }, 90_000);
      afterAll(() => example?.stop());

      scenario(runtime, 'breaker forgets failures older than its rolling window', async () => {
        // Two failures would open it (volume 2, 50 %), but not when the first has left the window.
        fake.enqueue(529);
        await expect(client.messages.create(PARAMS)).rejects.toMatchObject({ status: 529 });
        await sleep(BREAKER_WINDOW_MS + 500);
        fake.enqueue(529);
        await expect(client.messages.create(PARAMS)).rejects.toMatchObject({ status: 529 });
        expect(textOf(await client.messages.create(PARAMS))).toBe(expectedText);
        expect(fake.requests.map((r) => r.status)).toEqual([529, 529, 200]);
      });
    });
    describe('with no key or base URL', () => {
      let example: ExampleProcess;
      beforeAll(async () => {
        example = await startExample(runtime, {
          ANTHROPIC_API_KEY: '',
          ANTHROPIC_BASE_URL: '',
          FAKE_ANTHROPIC_TOKEN_DELAY_MS: '0',
        });
      }, 90_000);
      afterAll(() => example?.stop());

      scenario(
        runtime,
        'no key or base URL: the embedded fake behind the same routes, its demo faults included',
        async () => {
          expect(example.output()).toContain('embedded fake-anthropic');
          const get = (path: string) => fetch(`${example.url}${path}`);
          const post = (path: string, body: unknown) =>
            fetch(`${example.url}${path}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body),
            });
          expect(await (await get('/healthz')).json()).toEqual({ ok: true });
          expect(await (await get('/')).text()).toContain('claude-guard demo');
          expect(((await (await get('/guard/status')).json()) as { upstream: string }).upstream).toBe('fake-anthropic');
          expect(Object.keys((await (await get('/demo/faults')).json()) as object)).toContain('overloaded');

          const client = new Anthropic({ apiKey: 'any-key', baseURL: example.url, maxRetries: 0 });
          expect(textOf(await client.messages.create(PARAMS))).not.toBe('');
          expect(((await (await post('/chat', { message: 'hi' })).json()) as { text: string }).text).toMatch(/hi/);
          // The demo page's button: three 529s queued on the embedded fake use up the three attempts.
          expect(await (await post('/demo/fault', { fault: 'overloaded' })).json()).toEqual({ queued: 'overloaded' });
          await expect(client.messages.create(PARAMS)).rejects.toMatchObject({ status: 529 });
          expect(await (await get('/metrics')).text()).toMatch(/claude_guard_requests_total\{route="proxy"/);
        },
      );
    });
  });
}

/**
 * One scenario. When the runtime documents a limit for it, the test is `it.fails` named after the
 * limit: it must still fail as documented, so a runtime that starts to pass it makes the suite say so.
 */
function scenario(runtime: RuntimeUnderTest, name: Scenario, body: () => Promise<void>): void {
  const limit = runtime.limits[name];
  if (limit === undefined) it(name, body, 30_000);
  else it.fails(`${name} (expected to fail on ${runtime.name}: ${limit})`, body, 30_000);
}

function textOf(message: Anthropic.Message): string {
  return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

function eventNames(sse: string): string[] {
  return [...sse.matchAll(/^event: (.+)$/gm)].map((match) => match[1]!);
}

/** The request's outcome once it has ended (within 3 s), or 'pending'. */
async function ended(record: RequestRecord): Promise<string> {
  for (const stop = performance.now() + 3_000; record.outcome === 'pending' && performance.now() < stop;) {
    await sleep(20);
  }
  return record.outcome;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout(promise: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      promise,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

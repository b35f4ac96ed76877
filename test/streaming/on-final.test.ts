import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, type ClaudeGuard, type MessageStreamParams, type StreamFinal } from '@claude-guard/core';
import * as guardExpress from '@claude-guard/express';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import * as guardHono from '@claude-guard/hono';
import { serve } from '@hono/node-server';
import express from 'express';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ADAPTERS,
  API_KEY,
  MODEL,
  sse,
  startHostileUpstream,
  type AdapterName,
  type LogCall,
} from '../support/index.js';

// onFinal on a handler's stream, on both adapters, with the official SDK as the end client: the
// handler mounts its guarded stream at /v1/messages so that `client.messages.stream()` reads it.

interface FinalApp {
  /** The end user's SDK, pointed at the app. */
  client: Anthropic;
  guard: ClaudeGuard;
  finals: StreamFinal[];
  logs: LogCall[];
  /** Resolves with the one `onFinal` call of the request, once made. */
  final(): Promise<StreamFinal>;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function startFinalApp(
  adapter: AdapterName,
  upstreamUrl: string,
  onFinal?: (final: StreamFinal) => void | Promise<void>,
): Promise<FinalApp> {
  const finals: StreamFinal[] = [];
  const logs: LogCall[] = [];
  const log = (level: LogCall['level']) => (record: object, message?: string) =>
    logs.push({ level, record: record as LogCall['record'], message });
  const guard = createClaudeGuard({
    client: new Anthropic({ apiKey: API_KEY, baseURL: upstreamUrl }),
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
  });
  const options = {
    onFinal: (final: StreamFinal) => {
      finals.push(final);
      return onFinal?.(final);
    },
  };
  let server: Server;
  if (adapter === 'hono') {
    const app = new Hono<{ Variables: guardHono.ClaudeGuardVariables }>();
    app.onError(guardHono.claudeGuardErrorHandler(guard));
    app.post('/v1/messages', guardHono.claudeGuard(guard, { route: 'chat' }), async (c) =>
      c.var.claude.stream(c, await c.req.json<MessageStreamParams>(), options),
    );
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  } else {
    const app = express();
    app.post(
      '/v1/messages',
      express.json(),
      guardExpress.claudeGuard(guard, { route: 'chat' }),
      guardExpress.guarded(async (req, res) => {
        const { stream: _stream, ...params } = req.body as MessageStreamParams & { stream?: boolean };
        await req.claude.stream(res, params, options);
      }),
    );
    app.use(guardExpress.claudeGuardErrorHandler(guard));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
  }
  closers.push(async () => {
    guard.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    client: new Anthropic({ apiKey: 'end-user', baseURL: base, maxRetries: 0 }),
    guard,
    finals,
    logs,
    async final() {
      await vi.waitFor(() => expect(finals.length).toBeGreaterThan(0), { timeout: 5_000, interval: 2 });
      return finals[0]!;
    },
  };
}

async function startFake(options: Parameters<typeof createFakeAnthropic>[0] = {}): Promise<FakeAnthropic> {
  const fake = await createFakeAnthropic(options);
  closers.push(() => fake.close());
  return fake;
}

const PARAMS = { model: MODEL, max_tokens: 200, messages: [{ role: 'user' as const, content: 'weather in Paris?' }] };

/** What the SDK assembled, less its own helper field (`parsed_output`, for structured outputs): the wire's Message. */
function wire(message: Anthropic.Message): Anthropic.Message {
  const { parsed_output: _parsed, ...rest } = message as Anthropic.Message & { parsed_output?: unknown };
  return rest;
}

/** A thinking block, a text block and a tool_use block whose input arrives in three fragments. */
function toolUseStream(): string {
  return [
    sse('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_tool',
        type: 'message',
        role: 'assistant',
        content: [],
        model: MODEL,
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 40, output_tokens: 1 },
      },
    }),
    sse('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'thinking', thinking: '', signature: '' },
    }),
    sse('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'thinking_delta', thinking: 'The user wants weather.' },
    }),
    sse('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'signature_delta', signature: 'c2lnbmF0dXJl' },
    }),
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }),
    sse('content_block_delta', {
      type: 'content_block_delta',
      index: 1,
      delta: { type: 'text_delta', text: 'Let me check.' },
    }),
    sse('content_block_stop', { type: 'content_block_stop', index: 1 }),
    sse('content_block_start', {
      type: 'content_block_start',
      index: 2,
      content_block: { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: {} },
    }),
    ...['{"city":', ' "Paris", "unit"', ': "celsius"}'].map((partial_json) =>
      sse('content_block_delta', {
        type: 'content_block_delta',
        index: 2,
        delta: { type: 'input_json_delta', partial_json },
      }),
    ),
    sse('content_block_stop', { type: 'content_block_stop', index: 2 }),
    sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { output_tokens: 64 },
    }),
    sse('message_stop', { type: 'message_stop' }),
  ].join('');
}

describe.each(ADAPTERS)('onFinal on a handler stream, read by the official SDK (%s)', (adapter) => {
  it('gets the complete Message, the same the SDK assembled, once the stream has ended', async () => {
    const fake = await startFake({ replyWords: 8 });
    const app = await startFinalApp(adapter, fake.url);
    const read = await app.client.messages.stream(PARAMS).finalMessage();
    const final = await app.final();
    expect(final.type).toBe('message');
    if (final.type !== 'message') return;
    expect(final.message).toEqual(wire(read));
    expect(final.message.stop_reason).toBe('end_turn');
    expect(final.message.usage.output_tokens).toBe(8);
    expect(final.upstreamRequestId).toBe(fake.requests[0]!.id);
    await vi.waitFor(() => expect(app.logs).toHaveLength(1));
    expect(final.requestId).toBe(app.logs[0]!.record.requestId);
    expect(app.finals).toHaveLength(1);
  });

  it('gets tool_use blocks with their input parsed, thinking with its signature', async () => {
    const upstream = await startHostileUpstream(({ res }) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': 'req_tool01' });
      res.end(toolUseStream());
    });
    closers.push(() => upstream.close());
    const app = await startFinalApp(adapter, upstream.url);
    const read = await app.client.messages.stream(PARAMS).finalMessage();
    const final = await app.final();
    expect(final.type).toBe('message');
    if (final.type !== 'message') return;
    expect(final.message).toEqual(wire(read));
    expect(final.message.content).toEqual([
      { type: 'thinking', thinking: 'The user wants weather.', signature: 'c2lnbmF0dXJl' },
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } },
    ]);
    expect(final.message.stop_reason).toBe('tool_use');
    expect(final.message.usage).toEqual({ input_tokens: 40, output_tokens: 64 });
  });

  it('is told of a client that aborted mid-stream: what it was sent, and the output tokens so far', async () => {
    const fake = await startFake({ replyWords: 400 });
    fake.enqueue({ kind: 'slow', tokenDelayMs: 20 });
    const app = await startFinalApp(adapter, fake.url);
    const stream = app.client.messages.stream(PARAMS);
    const ended = stream.done().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    let received = '';
    await new Promise<void>((resolve) => {
      stream.on('text', (text) => {
        received += text;
        if (received.split(' ').length > 5) resolve();
      });
    });
    stream.abort();
    expect(await ended).toBeInstanceOf(Anthropic.APIUserAbortError);
    const final = await app.final();
    expect(final.type).toBe('aborted');
    if (final.type !== 'aborted') return;
    const text = final.message?.content[0]?.type === 'text' ? final.message.content[0].text : '';
    expect(text.startsWith(received)).toBe(true);
    expect(final.message?.stop_reason).toBeNull();
    // The API's count at message_start, and an estimate from the words that came after it.
    expect(final.message?.usage.output_tokens).toBe(1);
    expect(final.estimatedOutputTokens).toBeGreaterThanOrEqual(Math.ceil(text.length / 3.5));
    expect(final.estimatedOutputTokens).toBeGreaterThan(1);
    await vi.waitFor(() => expect(app.logs).toHaveLength(1));
    expect(app.logs[0]!.record).toMatchObject({ status: 499, outcome: 'client-aborted' });
    await fake.settled();
    expect(fake.requests[0]!.outcome).toBe('client-aborted');
    expect(app.finals).toHaveLength(1);
  });

  it('is told of a failure after the commit: the in-band error the client got, and the failure behind it', async () => {
    // Words 50 ms apart: the error comes in its own chunk, after the commit.
    const fake = await startFake({ replyWords: 10, tokenDelayMs: 50 });
    fake.enqueue({ kind: 'in-band-error', type: 'overloaded_error', afterEvents: 5 });
    const app = await startFinalApp(adapter, fake.url);
    const stream = app.client.messages.stream(PARAMS);
    const error = await stream.finalMessage().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(Anthropic.APIError);
    const final = await app.final();
    expect(final.type).toBe('error');
    if (final.type !== 'error') return;
    expect(final.error).toMatchObject({
      type: 'overloaded_error',
      outcome: 'upstream-error',
      message: 'The Claude API failed mid-stream with overloaded_error',
    });
    expect((error as InstanceType<typeof Anthropic.APIError>).message).toContain(final.error.message);
    expect(final.failure).toMatchObject({ kind: 'in-band', type: 'overloaded_error', upstreamMessage: 'Overloaded' });
    expect(final.message?.stop_reason).toBeNull();
  });

  it('is told of a failure before the commit: the status the client got, and no message', async () => {
    const fake = await startFake();
    fake.enqueue(529, 529, 529);
    const app = await startFinalApp(adapter, fake.url);
    const error = await app.client.messages
      .stream(PARAMS)
      .finalMessage()
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).status).toBe(529);
    const final = await app.final();
    expect(final).toMatchObject({
      type: 'error',
      error: { status: 529, type: 'overloaded_error', outcome: 'upstream-error' },
      failure: { kind: 'http', status: 529 },
      message: undefined,
    });
  });

  it('never lets onFinal break the stream: what it throws is logged at error level', async () => {
    const fake = await startFake({ replyWords: 5 });
    const app = await startFinalApp(adapter, fake.url, async () => {
      await Promise.resolve();
      throw new Error(`saving failed near ${API_KEY}`);
    });
    const read = await app.client.messages.stream(PARAMS).finalMessage();
    expect(read.stop_reason).toBe('end_turn');
    await vi.waitFor(() => expect(app.logs.some((l) => l.message === 'claude-guard onFinal failed')).toBe(true));
    const failed = app.logs.find((l) => l.message === 'claude-guard onFinal failed')!;
    expect(failed.level).toBe('error');
    expect(failed.record).toMatchObject({ route: 'chat', err: { type: 'Error' } });
    expect(JSON.stringify(app.logs)).not.toContain(API_KEY);
    expect(app.logs.find((l) => l.message === 'claude-guard request')?.record).toMatchObject({ status: 200 });
  });
});

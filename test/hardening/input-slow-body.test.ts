import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ADAPTERS, MODEL, startStack, type AdapterName, type Stack } from '../support/index.js';

// Issue 10, items 8 and 10: reading the passthrough's body is part of the request's budget, and a
// client that leaves mid-body is a disconnect like any other (one log line, 499, no stack trace).

const HEAD = (headers: string) =>
  `POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${headers}\r\n`;
const BODY_START = `{"model":"${MODEL}","max_tokens":16,"messages":[{"role":"user","content":"`;

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection (rather than the test giving up). */
  closedByServer: boolean;
}

/** Opens a raw connection to the app; `answer` resolves with what came back once the server closes it. */
function rawClient(port: number): { socket: Socket; answer: Promise<RawAnswer> } {
  const socket = connect(port, '127.0.0.1');
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    let text = '';
    let gaveUp = false;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    // A generous safety net: the answer is due ~300 ms in; without the fix it never comes.
    const timer = setTimeout(() => {
      gaveUp = true;
      socket.destroy();
    }, 8_000);
    socket.on('close', () => {
      clearTimeout(timer);
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const raw = rest.join('\r\n\r\n');
      resolve({
        status: Number(statusLine.split(' ')[1] ?? 0),
        headers,
        body: headers['transfer-encoding'] === 'chunked' ? dechunk(raw) : raw,
        closedByServer: !gaveUp,
      });
    });
  });
  return { socket, answer };
}

/** The payload of a `transfer-encoding: chunked` body. */
function dechunk(raw: string): string {
  let out = '';
  let rest = raw;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = eol < 0 ? 0 : parseInt(rest.slice(0, eol), 16);
    if (!size) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

/** The first request the app's server receives, as Node's `IncomingMessage`. */
function nextIncoming(stack: Stack): Promise<IncomingMessage> {
  return new Promise((resolve) => stack.server.once('request', resolve));
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function openConnections(stack: Stack): Promise<number> {
  return new Promise((resolve, reject) =>
    stack.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

describe.each(ADAPTERS)('the passthrough reads its body under the deadline (%s)', (adapter: AdapterName) => {
  let stack: Stack | undefined;
  const timers = new Set<NodeJS.Timeout>();
  afterEach(async () => {
    for (const timer of timers) clearInterval(timer);
    timers.clear();
    await stack?.close();
    stack = undefined;
  });

  /** 408, our Anthropic-shaped timeout_error, the connection closed, Claude never called, one log line. */
  async function expectBodyTimeout(answer: RawAnswer, incoming: IncomingMessage): Promise<void> {
    const s = stack!;
    expect(answer.closedByServer, 'the server answered and closed the connection').toBe(true);
    expect(answer.status, answer.body).toBe(408);
    expect(answer.headers['connection']).toBe('close');
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(answer.body) as { type: string; error: { type: string; message: string } };
    expect(body).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    expect(body.error.message).toMatch(/^The request body was not received in time/);
    expect(body.error.message).toMatch(/Claude was not called/);
    expect(s.fake.requests).toHaveLength(0);
    await waitFor(() => s.logs.length > 0, 'the log line');
    expect(s.logs).toHaveLength(1);
    expect(s.logs[0]!.record).toMatchObject({ route: 'proxy', status: 408, outcome: 'deadline-exceeded', attempts: 0 });
    const proxy = s.guard.status().breakers.find((breaker) => breaker.key === 'proxy');
    expect(proxy?.counts.fires ?? 0).toBe(0);
    // The body stream is released with its connection: nothing of the request is left behind.
    if (adapter === 'express') expect(incoming.destroyed, 'the bridge destroyed the raw body stream').toBe(true);
    await waitFor(() => incoming.socket === null || incoming.socket.destroyed, 'the socket to close');
    expect(await openConnections(s)).toBe(0);
  }

  it('a body that never finishes gets a 408 at the deadline, and the connection is closed', async () => {
    stack = await startStack({ adapter });
    const incoming = nextIncoming(stack);
    const { socket, answer } = rawClient(stack.port);
    socket.write(HEAD('Content-Length: 1000\r\nx-request-timeout-ms: 300\r\n') + BODY_START);
    await expectBodyTimeout(await answer, await incoming);
  });

  it('a body sent a byte at a time gets a 408 at the deadline, not a 504 blaming Claude', async () => {
    stack = await startStack({ adapter });
    const incoming = nextIncoming(stack);
    const { socket, answer } = rawClient(stack.port);
    socket.write(HEAD('Transfer-Encoding: chunked\r\nx-request-timeout-ms: 300\r\n'));
    const bytes = BODY_START + 'x'.repeat(10_000);
    let offset = 0;
    const drip = setInterval(() => {
      if (socket.destroyed) return;
      socket.write(`1\r\n${bytes[offset++]}\r\n`);
    }, 20);
    timers.add(drip);
    await expectBodyTimeout(await answer, await incoming);
  });

  it('a client that leaves mid-body is logged once as 499, with no stack trace printed', async () => {
    // Express prints unhandled errors' stacks only outside NODE_ENV=test: run as an app would.
    vi.stubEnv('NODE_ENV', 'production');
    const errors = vi.spyOn(console, 'error');
    const stderr = vi.spyOn(process.stderr, 'write');
    stack = await startStack({ adapter });
    const s = stack;
    const incoming = nextIncoming(s);
    const { socket, answer } = rawClient(s.port);
    socket.write(HEAD('Content-Length: 1000\r\n') + BODY_START);
    await incoming;
    // Let the passthrough start reading (either way, leaving before or during the read is a 499).
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    await answer;
    await waitFor(() => s.logs.length > 0, 'the log line');
    // Anything printed late would show up here.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(s.logs).toHaveLength(1);
    expect(s.logs[0]!.record).toMatchObject({ route: 'proxy', status: 499, outcome: 'client-aborted', attempts: 0 });
    expect(s.fake.requests).toHaveLength(0);
    expect(errors).not.toHaveBeenCalled();
    const printed = stderr.mock.calls.map(([chunk]) => String(chunk)).join('');
    expect(printed).not.toMatch(/aborted|abortIncoming|Error/);
  });
});

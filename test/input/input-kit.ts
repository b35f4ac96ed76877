import type { RequestLogRecord } from '@claude-guard/core';
import { connect } from 'node:net';
import { expect } from 'vitest';
import { MODEL, readResult, type HttpResult, type Stack } from '../support/index.js';

/** The route limits every input test runs under (room for a 100 000-level body within the size limit). */
export const LIMITS = { maxBodyBytes: 300_000, allowedModels: [MODEL, 'claude-haiku-4-5'], maxTokensCap: 1_000 };

/** An answer read whole (its body parsed as JSON, or undefined). */
export type Answer = HttpResult;

/** A valid Messages body, with overrides (`undefined` removes a field). */
export function messagesBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hello input' }], ...overrides };
}

/**
 * POSTs to our app with fetch; `body` goes as it is (string, bytes or stream) and `headers` are all
 * the headers sent (none but fetch's own when `{}`), unlike `Stack.send`, which adds a JSON content-type.
 */
export async function send(
  stack: Pick<Stack, 'base'>,
  path: string,
  body: BodyInit,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<Answer> {
  const init: RequestInit & { duplex?: 'half' } = { method: 'POST', headers, body };
  if (body instanceof ReadableStream) init.duplex = 'half';
  return readResult(await fetch(`${stack.base}${path}`, init));
}

/**
 * The answer is our Anthropic-shaped error: `status`, `error.type`, a message, the request id in the
 * body equal to the one in the headers, and `x-should-retry: false`.
 */
export function expectAnthropicError(answer: Answer, status: number, type: string, message?: string | RegExp): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  expect(answer.body).toMatchObject({ type: 'error', error: { type } });
  expect(typeof answer.body.error.message).toBe('string');
  if (typeof message === 'string') expect(answer.body.error.message).toBe(message);
  else if (message) expect(answer.body.error.message).toMatch(message);
  expect(answer.body.request_id).toBe(answer.headers.get('x-request-id'));
  expect(answer.headers.get('x-should-retry')).toBe('false');
}

/** Nothing reached Claude and no breaker moved. */
export function expectUntouched(stack: Stack): void {
  expect(stack.fake.requests).toHaveLength(0);
  for (const breaker of stack.guard.status().breakers) {
    expect(breaker.state).toBe('closed');
    expect(breaker.counts).toEqual({ fires: 0, successes: 0, failures: 0, rejects: 0, neutral: 0 });
  }
}

/** The guard's last log line. */
export function lastLog(stack: Stack): RequestLogRecord | undefined {
  return stack.logs.at(-1)?.record;
}

/** A stream that sends `text` in 1 000-byte chunks: no content-length, so the limit is enforced while reading. */
export function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.subarray(offset, offset + 1_000));
      offset += 1_000;
    },
  });
}

/**
 * Writes raw bytes (latin1) to our app over a plain socket, so that requests no HTTP client would
 * send (CR or LF inside a header value, ...) can be tried; resolves with everything the server
 * answered once it closes the connection (send `Connection: close`).
 */
export function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => socket.destroy(new Error('the server did not close the connection')));
    socket.write(request, 'latin1');
  });
}

/** The header block of a raw HTTP answer, names lowercased, in order. */
export function rawHeaderNames(answer: string): string[] {
  const head = answer.split('\r\n\r\n')[0] ?? '';
  return head
    .split('\r\n')
    .slice(1)
    .map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
}

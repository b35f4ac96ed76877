import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADAPTERS, MODEL, startStack, type Stack } from '../support/index.js';
import {
  LIMITS,
  expectAnthropicError,
  expectUntouched,
  lastLog,
  messagesBody,
  rawHeaderNames,
  rawRequest,
  send,
  type Answer,
} from './input-kit.js';

const MS_REASON = 'must be an integer number of milliseconds';
const GRPC_REASON = 'must be 1-8 digits followed by a unit H, M, S, m, u or n';

/** Both kinds of guarded route, each with a body it would otherwise accept. */
const ROUTES = [
  { path: '/v1/messages', route: 'proxy', body: JSON.stringify(messagesBody()) },
  { path: '/chat', route: 'chat', body: JSON.stringify({ message: 'hello input' }) },
] as const;

const MALFORMED_DEADLINES: [string, string, string][] = [
  ['x-request-timeout-ms', 'NaN', MS_REASON],
  ['x-request-timeout-ms', 'soon', MS_REASON],
  ['x-request-timeout-ms', '1e3', MS_REASON],
  ['x-request-timeout-ms', '1.5', MS_REASON],
  ['x-request-timeout-ms', '0x10', MS_REASON],
  ['x-request-timeout-ms', '+5', MS_REASON],
  ['x-request-timeout-ms', '--5', MS_REASON],
  ['x-request-timeout-ms', 'Infinity', MS_REASON],
  ['x-request-timeout-ms', '9'.repeat(30), MS_REASON],
  ['x-request-timeout-ms', '-'.concat('9'.repeat(30)), MS_REASON],
  ['x-request-timeout-ms', '', MS_REASON],
  ['x-request-timeout-ms', '5 5', MS_REASON],
  // Two headers arrive joined: which one the caller meant is anyone's guess.
  ['x-request-timeout-ms', '100, 200', MS_REASON],
  ['x-envoy-expected-rq-timeout-ms', 'abc', MS_REASON],
  ['grpc-timeout', '10', GRPC_REASON],
  ['grpc-timeout', 'S', GRPC_REASON],
  ['grpc-timeout', '10x', GRPC_REASON],
  ['grpc-timeout', '10s', GRPC_REASON],
  ['grpc-timeout', '10MS', GRPC_REASON],
  ['grpc-timeout', '1.5S', GRPC_REASON],
  ['grpc-timeout', '-1S', GRPC_REASON],
  ['grpc-timeout', '123456789S', GRPC_REASON],
  ['grpc-timeout', '5 S', GRPC_REASON],
  ['grpc-timeout', '9'.repeat(30), GRPC_REASON],
];

describe.each(ADAPTERS)('hostile headers (%s)', (adapter) => {
  let stack: Stack;
  let linesBefore = 0;
  beforeAll(async () => {
    stack = await startStack({ adapter, proxy: { proxy: LIMITS } });
  });
  afterAll(async () => {
    await stack.close();
  });
  afterEach(() => {
    try {
      expectUntouched(stack);
    } finally {
      stack.fake.reset();
    }
  });

  async function post(path: string, body: string, headers: Record<string, string>): Promise<Answer> {
    linesBefore = stack.logs.length;
    return send(stack, path, body, { 'content-type': 'application/json', ...headers });
  }

  function expectLogged(answer: Answer, route: string, outcome = 'bad-request'): void {
    expect(stack.logs).toHaveLength(linesBefore + 1);
    expect(lastLog(stack)).toMatchObject({
      route,
      status: answer.status,
      outcome,
      attempts: 0,
      requestId: answer.body.request_id,
    });
  }

  describe.each(ROUTES)('$path', ({ path, route, body }) => {
    it.each(MALFORMED_DEADLINES)('400 for %s: %j', async (header, value, reason) => {
      const answer = await post(path, body, { [header]: value });
      expectAnthropicError(answer, 400, 'invalid_request_error', `Header ${header}: ${reason}`);
      expectLogged(answer, route);
    });

    it('never echoes the bad value itself', async () => {
      const answer = await post(path, body, { 'x-request-timeout-ms': '<script>alert(1)</script>' });
      expectAnthropicError(answer, 400, 'invalid_request_error', `Header x-request-timeout-ms: ${MS_REASON}`);
      expect(answer.text).not.toContain('script');
      expectLogged(answer, route);
    });

    // Zero or below means the caller's deadline has passed: a timeout, by design, not a malformed request.
    it.each([
      ['x-request-timeout-ms', '0'],
      ['x-request-timeout-ms', '-5'],
      ['x-request-timeout-ms', '-999999999'],
      ['x-envoy-expected-rq-timeout-ms', '-1'],
      ['grpc-timeout', '0m'],
      ['grpc-timeout', '999999n'],
    ])('504 without calling Claude for a spent deadline, %s: %j', async (header, value) => {
      const answer = await post(path, body, { [header]: value });
      expectAnthropicError(
        answer,
        504,
        'timeout_error',
        `Header ${header}: the caller's deadline had already passed; Claude was not called`,
      );
      expectLogged(answer, route, 'deadline-exceeded');
    });

    it.each([
      ['10 000 characters', 'r'.repeat(10_000)],
      ['129 characters', 'r'.repeat(129)],
      ['a space', 'abc def'],
      ['a slash', 'abc/def'],
      ['markup', '<script>alert(1)</script>'],
      ['a tab', 'abc\tdef'],
      ['percent-encoded CR/LF', 'abc%0d%0aSet-Cookie:%20x=1'],
      ['a quote', 'abc"def'],
    ])('a request id with %s is replaced, never echoed', async (_what, id) => {
      const answer = await post(path, body, { 'x-request-id': id, 'x-request-timeout-ms': 'bad' });
      expectAnthropicError(answer, 400, 'invalid_request_error');
      expect(answer.headers.get('x-request-id')).toMatch(/^cg_[A-Za-z0-9_-]{24}$/);
      expect(answer.body.request_id).toBe(answer.headers.get('x-request-id'));
      expect(answer.headers.get('set-cookie')).toBeNull();
      expectLogged(answer, route);
    });

    it('a valid 128-character request id is echoed as it is', async () => {
      const id = `req.${'A1_-'.repeat(31)}`;
      expect(id).toHaveLength(128);
      const answer = await post(path, body, { 'x-request-id': id, 'x-request-timeout-ms': 'bad' });
      expectAnthropicError(answer, 400, 'invalid_request_error');
      expect(answer.headers.get('x-request-id')).toBe(id);
      expect(answer.body.request_id).toBe(id);
      expectLogged(answer, route);
    });
  });

  /** Raw bytes: header values no HTTP client would send. */
  const request = (headerLines: string, body = JSON.stringify(messagesBody())) =>
    `POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${headerLines}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;

  it.each([
    ['a bare CR', 'x-request-id: abc\rx-injected: 1\r\n'],
    ['a bare LF', 'x-request-id: abc\nx-injected: 1\r\n'],
    ['a folded line', 'x-request-id: abc\r\n x-injected: 1\r\n'],
    ['a NUL byte', 'x-request-id: abc\u0000x-injected: 1\r\n'],
    ['a bare CR in a deadline header', 'x-request-timeout-ms: 100\rx-injected: 1\r\n'],
    ['a 20 kB request id', `x-request-id: ${'r'.repeat(20_000)}\r\n`],
  ])('%s in a header: Node refuses the request before it reaches the guard', async (_what, lines) => {
    linesBefore = stack.logs.length;
    const answer = await rawRequest(stack.port, request(lines));
    expect(answer).toMatch(/^HTTP\/1\.1 4(00|31) /);
    expect(rawHeaderNames(answer)).not.toContain('x-injected');
    expect(answer).not.toMatch(/\r\nx-injected:/i);
    // Nothing reached our code: no log line.
    expect(stack.logs).toHaveLength(linesBefore);
    // And the server is fine afterwards.
    const next = await post('/v1/messages', '{', {});
    expectAnthropicError(next, 400, 'invalid_request_error', 'The request body is not valid JSON');
  });

  it('CRLF between headers only makes two request headers; nothing extra comes back', async () => {
    linesBefore = stack.logs.length;
    // The deadline header the CRLF makes is a real one: 30 s, so the body's JSON is what answers (a 1 ms
    // budget raced the body's arrival and could answer 408 instead on a loaded machine).
    const answer = await rawRequest(
      stack.port,
      request('x-request-id: abc\r\nx-injected: 1\r\nx-request-timeout-ms: 30000\r\nSet-Cookie: a=b\r\n', '{'),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const names = rawHeaderNames(answer);
    expect(names).not.toContain('x-injected');
    expect(names).not.toContain('set-cookie');
    expect(answer).toContain('\r\nx-request-id: abc\r\n');
    expect(stack.logs).toHaveLength(linesBefore + 1);
    expect(lastLog(stack)).toMatchObject({ requestId: 'abc', status: 400, outcome: 'bad-request' });
  });

  it('a request id with a latin-1 byte reaches the guard and is replaced', async () => {
    linesBefore = stack.logs.length;
    const answer = await rawRequest(stack.port, request('x-request-id: caf\u00e9\r\n', '{'));
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toMatch(/\r\nx-request-id: cg_[A-Za-z0-9_-]{24}\r\n/);
    expect(answer).not.toContain('caf\u00e9');
    expect(stack.logs).toHaveLength(linesBefore + 1);
  });
});

describe.each(ADAPTERS)('an absurd but well-formed deadline (%s)', (adapter) => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ adapter, guard: { deadline: { maxMs: 30_000 } } });
  });
  afterAll(async () => {
    await stack.close();
  });

  it('999 999 999 ms is capped at deadline.maxMs, not trusted', async () => {
    const answer = await send(stack, '/v1/messages', JSON.stringify({ ...messagesBody(), model: MODEL }), {
      'content-type': 'application/json',
      'x-request-timeout-ms': '999999999',
    });
    expect(answer.status).toBe(200);
    // The SDK was given the capped budget (whole seconds) as its timeout, not eleven days.
    expect(Number(stack.fake.requests[0]?.headers['x-stainless-timeout'])).toBeLessThanOrEqual(30);
  });
});

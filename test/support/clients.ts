import type { FakeAnthropic } from '@claude-guard/fake-anthropic';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';

/** How to send a request: extra headers (over `content-type: application/json`) and an abort signal. */
export interface PostInit {
  headers?: Record<string, string> | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * POSTs to `base + path` with fetch. A string, bytes or a stream go as they are (a stream without a
 * length); anything else as JSON.
 *
 * @example
 * ```ts
 * const response = await postJson(h.base, '/v1/messages', { ...params(), stream: true });
 * ```
 */
export function postJson(base: string, path: string, body: unknown, init: PostInit = {}): Promise<Response> {
  const raw = typeof body === 'string' || body instanceof Uint8Array || body instanceof ReadableStream;
  const request: RequestInit & { duplex?: 'half' } = {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: raw ? (body as BodyInit) : JSON.stringify(body),
  };
  if (body instanceof ReadableStream) request.duplex = 'half';
  if (init.signal) request.signal = init.signal;
  return fetch(`${base}${path}`, request);
}

/** A response read whole. */
export interface HttpResult {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body (`undefined` when not JSON). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON that tests read freely
  body: any;
}

/**
 * Reads a response to the end, and parses it as JSON when it is.
 *
 * @example
 * ```ts
 * const result = await readResult(await fetch(url));
 * expect(result.body.type).toBe('error');
 * ```
 */
export async function readResult(response: Response): Promise<HttpResult> {
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, text, body: parsed };
}

/**
 * Asserts the Anthropic error shape (with `request_id` equal to the `x-request-id` header and
 * `x-should-retry: false`), and returns the body's error for further checks.
 *
 * @example
 * ```ts
 * expect(expectAnthropicError(await h.chat()).type).toBe('overloaded_error');
 * ```
 */
export function expectAnthropicError(result: HttpResult): { type: string; message: string } {
  const body = result.body as { type?: unknown; error?: { type?: unknown; message?: unknown }; request_id?: unknown };
  if (body?.type !== 'error' || typeof body.error?.type !== 'string' || typeof body.error.message !== 'string') {
    throw new Error(`not an Anthropic error body (status ${result.status}): ${result.text}`);
  }
  if (typeof body.request_id !== 'string' || body.request_id !== result.headers.get('x-request-id')) {
    throw new Error(
      `request_id ${String(body.request_id)} does not match x-request-id ${result.headers.get('x-request-id')}`,
    );
  }
  if (result.headers.get('x-should-retry') !== 'false') throw new Error('error response without x-should-retry: false');
  return { type: body.error.type, message: body.error.message };
}

/**
 * The `x-stainless-retry-count` of every upstream request: the SDK itself never retried if all are '0'.
 *
 * @example
 * ```ts
 * expect(retryCounts(h.fake)).toEqual(['0', '0']);
 * ```
 */
export function retryCounts(fake: FakeAnthropic): (string | undefined)[] {
  return fake.requests.map((record) => record.headers['x-stainless-retry-count']);
}

/** What a client saw: a full answer, or that it gave up (`hang`) or lost the connection (`error`). */
export type ClientResult =
  | { kind: 'response'; status: number; headers: IncomingHttpHeaders; text: string }
  | { kind: 'hang' }
  | { kind: 'error'; message: string };

// A connection not open by then counts as a hang too.
const CONNECT_LIMIT_MS = 30_000;

/**
 * A keep-alive client with a bounded pool (`http.Agent`), so the sockets it holds are known and
 * `destroy()` closes every one of them: unlike the global fetch pool, nothing lingers afterwards.
 */
export interface PooledClient {
  /**
   * POSTs `body`; gives up `timeoutMs` after the connection is ready (reported as `hang`, the
   * socket destroyed).
   */
  post(path: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<ClientResult>;
  /**
   * Opens `count` keep-alive connections up front (concurrent `GET /` answered 404 by the app, no
   * guard involved), so that a load test does not start by waiting for a busy server to accept them.
   */
  preconnect(count: number): Promise<void>;
  /** Sockets open in the pool right now (busy and idle). */
  sockets(): number;
  destroy(): void;
}

/**
 * A {@link PooledClient} to `127.0.0.1:port` holding at most `maxSockets` connections.
 *
 * @example
 * ```ts
 * const client = pooledClient(h.port, 100);
 * const result = await client.post('/v1/messages', body, {}, 10_000);
 * client.destroy();
 * ```
 */
export function pooledClient(port: number, maxSockets: number): PooledClient {
  const agent = new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  const count = (table: NodeJS.ReadOnlyDict<unknown[]>) =>
    Object.values(table).reduce((sum, list) => sum + (list?.length ?? 0), 0);
  return {
    post(path, body, headers, timeoutMs) {
      return new Promise((resolve) => {
        let settled = false;
        const finish = (result: ClientResult) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(result);
        };
        const req = request(
          {
            agent,
            host: '127.0.0.1',
            port,
            path,
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              // `transfer-encoding: chunked` among `headers` sends the body without a length.
              ...('transfer-encoding' in headers ? {} : { 'content-length': Buffer.byteLength(body) }),
              ...headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () =>
              finish({
                kind: 'response',
                status: res.statusCode ?? 0,
                headers: res.headers,
                text: Buffer.concat(chunks).toString('utf8'),
              }),
            );
            res.on('error', (error) => finish({ kind: 'error', message: error.message }));
          },
        );
        const giveUp = () => {
          finish({ kind: 'hang' });
          req.destroy();
        };
        // The clock starts once the request can be sent (the server's deadline starts when it arrives):
        // opening a connection to a busy one-process server can take a while, and is not a hang.
        let timer: NodeJS.Timeout | undefined;
        const arm = () => {
          clearTimeout(timer);
          timer = setTimeout(giveUp, timeoutMs);
        };
        timer = setTimeout(giveUp, CONNECT_LIMIT_MS);
        req.once('socket', (socket) => (socket.connecting ? socket.once('connect', arm) : arm()));
        req.on('error', (error) => finish({ kind: 'error', message: error.message }));
        req.end(body);
      });
    },
    async preconnect(total) {
      const one = () =>
        new Promise<void>((resolve, reject) => {
          const req = request({ agent, host: '127.0.0.1', port, path: '/', method: 'GET' }, (res) => {
            res.resume();
            res.on('end', resolve);
          });
          req.setTimeout(CONNECT_LIMIT_MS, () => req.destroy(new Error('preconnect timed out')));
          req.on('error', reject);
          req.end();
        });
      await Promise.all(Array.from({ length: total }, one));
    },
    sockets: () => count(agent.sockets) + count(agent.freeSockets),
    destroy: () => agent.destroy(),
  };
}

/**
 * Runs `task(0..total-1)` with at most `concurrency` in flight.
 *
 * @example
 * ```ts
 * await runPool(10_000, 100, (index) => send(index));
 * ```
 */
export async function runPool(total: number, concurrency: number, task: (index: number) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const index = next++;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

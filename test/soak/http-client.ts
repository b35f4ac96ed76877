import { Agent, request, type IncomingHttpHeaders } from 'node:http';

/** What a client saw: a full answer, or that it gave up (`hang`) or lost the connection (`error`). */
export type ClientResult =
  | { kind: 'response'; status: number; headers: IncomingHttpHeaders; text: string }
  | { kind: 'hang' }
  | { kind: 'error'; message: string };

/**
 * A keep-alive client with a bounded pool (`http.Agent`), so the sockets it holds are known and
 * `destroy()` closes every one of them: unlike the global fetch pool, nothing lingers afterwards.
 */
// A connection not open by then counts as a hang too.
const CONNECT_LIMIT_MS = 30_000;

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

/** Runs `task(0..total-1)` with at most `concurrency` in flight. */
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

/**
 * Counts of the resources keeping the process alive, by type (`TCPSocketWrap`, `Timeout`, ...):
 * `process.getActiveResourcesInfo()` grouped.
 */
export function activeResources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo().sort()) out[name] = (out[name] ?? 0) + 1;
  return out;
}

/** The resource types (and how many) above `baseline`: `{}` when nothing was left behind. */
export function resourcesAbove(baseline: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, count] of Object.entries(activeResources())) {
    if (count > (baseline[name] ?? 0)) out[name] = count - (baseline[name] ?? 0);
  }
  return out;
}

/** Polls until `read()` equals `expected` (deep, as JSON) or `tries` polls passed; returns the last value. */
export async function eventually<T>(read: () => T | Promise<T>, expected: T, tries = 100, intervalMs = 50): Promise<T> {
  let value = await read();
  for (let i = 0; i < tries && JSON.stringify(value) !== JSON.stringify(expected); i++) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    value = await read();
  }
  return value;
}

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FaultInput } from './fault.js';
import { createFaultSource } from './fault-source.js';
import type { HandlerContext, RequestScope } from './handle-request.js';
import { handleRequest } from './handle-request.js';
import type { FakeAnthropicBehaviour, FakeAnthropicOptions } from './options.js';
import { drawDelay, resolveOptions } from './options.js';
import { createPrng } from './prng.js';
import { createRateLimiter } from './rate-limit-budget.js';
import type { MutableRecord, RequestOutcome, RequestRecord } from './request-record.js';
import { errorJson } from './wire-format.js';

/**
 * A running fake Anthropic server.
 *
 * @example
 * ```ts
 * const fake = await createFakeAnthropic();
 * const client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, maxRetries: 0 });
 * fake.enqueue(529, 'ok');
 * // ... first call fails with OverloadedError, second succeeds
 * await fake.close();
 * ```
 */
export type FakeAnthropic = {
  /** `http://HOST:PORT`, suitable as the SDK's `baseURL`. */
  readonly url: string;
  readonly port: number;
  /** Every request since start or the last `reset()`, in arrival order; records fill in as requests progress. */
  readonly requests: readonly RequestRecord[];
  /** Queues faults for the next requests that carry no `x-fake-fault` header, one per request, in order. */
  enqueue(...faults: FaultInput[]): void;
  /** Changes the default behaviour (timing, reply length, random fault rate, seed, rate-limit budget). */
  setDefault(behaviour: FakeAnthropicBehaviour): void;
  /**
   * Clears the request log and the queue, restores the behaviour and seed given at start, starts the
   * rate-limit budget over, and restarts {@link FakeAnthropic.maxInFlight} from the requests open now.
   */
  reset(): void;
  /** Requests open right now: arrived, and not yet settled (any path, faults included). */
  inFlight(): number;
  /** The most requests open at once since start or the last `reset()`. */
  maxInFlight(): number;
  /** Resolves when every request now in the log has ended (a stalled request ends only when aborted). */
  settled(): Promise<void>;
  /** Ends every open connection, cancels every timer and stops listening. Safe to call twice. */
  close(): Promise<void>;
};

/**
 * Starts an Anthropic-compatible Messages API server with fault injection on a real socket.
 *
 * @param options - see {@link FakeAnthropicOptions}; every field is optional
 * @returns the running server, once it is listening
 * @throws TypeError or RangeError naming the bad option
 * @example
 * ```ts
 * import Anthropic from '@anthropic-ai/sdk';
 * import { createFakeAnthropic } from '@claude-guard/fake-anthropic';
 *
 * const fake = await createFakeAnthropic({ replyWords: 5 });
 * const client = new Anthropic({ apiKey: 'test-key', baseURL: fake.url, maxRetries: 0 });
 * const message = await client.messages.create({
 *   model: 'claude-sonnet-5',
 *   max_tokens: 64,
 *   messages: [{ role: 'user', content: 'one two three' }],
 * });
 * // message.content[0].text === 'one two three one two'
 * await fake.close();
 * ```
 */
export async function createFakeAnthropic(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const config = resolveOptions(options);
  const faults = createFaultSource(config.behaviour);
  // A per-instance prefix keeps ids unique across several fakes in one test run.
  const instance = randomBytes(4).toString('hex');
  let requestCount = 0;
  let open = 0;
  let peak = 0;
  let messageCount = 0;
  let log: MutableRecord[] = [];
  const ended = new WeakMap<RequestRecord, Promise<void>>();
  const controllers = new Set<AbortController>();
  // Requests not yet settled, across reset() too, so close() can wait for every outcome.
  const unsettled = new Set<Promise<void>>();
  let closing = false;
  let closed: Promise<void> | undefined;

  // Its own sequence, apart from the fault rate's, so turning delays on does not move which requests fail.
  const delayRandom = config.random ?? createPrng(config.behaviour.seed + 0x9e3779b9);
  const rateLimits = createRateLimiter(config.behaviour.rateLimits, config.wallClock);
  const context: HandlerContext = {
    config,
    faults,
    rateLimits,
    nextMessageId: () => `msg_fake${instance}${String((messageCount += 1)).padStart(6, '0')}`,
    drawDelay: (choices) => drawDelay(choices, delayRandom),
  };

  const server = createServer((req, res) => {
    const id = `req_fake${instance}${String((requestCount += 1)).padStart(6, '0')}`;
    res.setHeader('request-id', id);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const record: MutableRecord = {
      id,
      arrivedAt: config.now(),
      method: req.method ?? 'GET',
      path: (req.url ?? '/').split('?')[0] ?? '/',
      body: undefined,
      headers,
      stream: false,
      fault: undefined,
      rateLimited: undefined,
      status: undefined,
      eventsSent: 0,
      outcome: 'pending',
      endedAt: undefined,
      abortedAt: undefined,
    };
    log.push(record);
    open += 1;
    if (open > peak) peak = open;
    const controller = new AbortController();
    controllers.add(controller);
    let markEnded = (): void => {};
    const done = new Promise<void>((resolve) => (markEnded = resolve));
    ended.set(record, done);
    unsettled.add(done);
    void done.then(() => unsettled.delete(done));

    const settle = (outcome: RequestOutcome): void => {
      if (record.outcome !== 'pending') return;
      open -= 1;
      record.outcome = outcome;
      record.endedAt = config.now();
      if (outcome === 'client-aborted') record.abortedAt = record.endedAt;
      markEnded();
      try {
        config.onRequestEnd?.(record);
      } catch (err) {
        // The callback runs inside a socket event; throwing there would crash the test process.
        process.emitWarning(`fake-anthropic: onRequestEnd threw: ${String(err)}`);
      }
    };
    const scope: RequestScope = { record, signal: controller.signal, settle };

    // A client that disconnects mid-write makes these emit; the outcome is read from 'close' instead.
    req.on('error', () => {});
    res.on('error', () => {});
    res.on('close', () => {
      controllers.delete(controller);
      controller.abort();
      settle(res.writableFinished ? 'completed' : closing ? 'reset' : 'client-aborted');
    });

    handleRequest(req, res, scope, context).catch((err: unknown) => {
      process.emitWarning(`fake-anthropic: request handler failed: ${String(err)}`);
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      const text = errorJson('api_error', 'fake-anthropic internal error', id);
      res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      record.status = 500;
      res.end(text);
    });
  });
  // Malformed requests and sockets reset by the client must never surface as unhandled errors.
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => process.emitWarning(`fake-anthropic: server error: ${String(err)}`));
  const port = (server.address() as AddressInfo).port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  return {
    url: `http://${host}:${port}`,
    port,
    get requests(): readonly RequestRecord[] {
      return log;
    },
    enqueue: (...list) => faults.enqueue(list),
    setDefault(behaviour) {
      faults.setDefault(behaviour);
      if (behaviour.rateLimits !== undefined) rateLimits.configure(faults.behaviour().rateLimits);
    },
    reset() {
      log = [];
      faults.reset();
      rateLimits.configure(config.behaviour.rateLimits);
      peak = open;
    },
    inFlight: () => open,
    maxInFlight: () => peak,
    async settled() {
      await Promise.all(log.map((record) => ended.get(record) ?? Promise.resolve()));
    },
    close() {
      if (closed !== undefined) return closed;
      closing = true;
      // Aborting first cancels every sleep and stall, so no handler writes while sockets go down.
      for (const controller of controllers) controller.abort();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      // Every destroyed socket still emits 'close', which settles its record; wait for that too so the
      // log is final when close() resolves.
      closed = stopped.then(() => Promise.all(unsettled)).then(() => undefined);
      return closed;
    },
  };
}

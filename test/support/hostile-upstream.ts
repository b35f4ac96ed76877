import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a scripted upstream handler is given for one request. */
export interface HostileRequest {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The request body, read whole, as text. */
  readonly body: string;
  /** The `Authorization` bearer or `x-api-key` the guard sent: the key a hostile upstream echoes. */
  readonly key: string;
  /** 0 for the first request this upstream received. */
  readonly index: number;
}

/**
 * A misbehaving Anthropic upstream on a real socket: every request goes to `handler`, which may
 * answer anything (or nothing). It records how many requests arrived and how many of their
 * connections were closed by the guard before the handler ended the response.
 */
export interface HostileUpstream {
  readonly url: string;
  /** Requests received so far. */
  readonly requests: () => number;
  /** Responses the guard stopped reading: the connection closed before `res.end()`. */
  readonly closedEarly: () => number;
  /** Replaces the handler (requests already running keep theirs). */
  setHandler(handler: HostileHandler): void;
  close(): Promise<void>;
}

export type HostileHandler = (request: HostileRequest) => void | Promise<void>;

/** Starts a {@link HostileUpstream} on 127.0.0.1 with a free port. */
export async function startHostileUpstream(handler: HostileHandler): Promise<HostileUpstream> {
  let current = handler;
  let count = 0;
  let closedEarly = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const index = count++;
    res.on('close', () => {
      if (!res.writableFinished) closedEarly += 1;
    });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const auth = req.headers['authorization'];
      const key =
        typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : String(req.headers['x-api-key'] ?? '');
      const run = current;
      Promise.resolve(run({ req, res, body: Buffer.concat(chunks).toString('utf8'), key, index })).catch(() => {
        res.destroy();
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    closedEarly: () => closedEarly,
    setHandler(next) {
      current = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One upstream `ping` event, as the API sends it. */
export const PING = 'event: ping\ndata: {"type": "ping"}\n\n';

/**
 * Writes pings as fast as the socket takes them, until the guard closes the connection (the caller
 * writes the head first).
 *
 * @example
 * ```ts
 * await startHostileUpstream(({ res }) => {
 *   res.writeHead(200, { 'content-type': 'text/event-stream' });
 *   floodPings(res);
 * });
 * ```
 */
export function floodPings(res: ServerResponse): void {
  const chunk = PING.repeat(512);
  const write = (): void => {
    // Bounded: write() returns false once the socket's buffer is full, at the latest.
    for (let i = 0; i < 1_000 && !res.destroyed; i++) {
      if (!res.write(chunk)) {
        res.once('drain', write);
        return;
      }
    }
    if (!res.destroyed) setImmediate(write);
  };
  write();
}

/** Bytes of one SSE event. */
export function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}

/** Answers 200 `text/event-stream` with a well-formed `request-id`, plus any `extra` headers. */
export function sseHead(res: ServerResponse, requestId = 'req_hostile01', extra: Record<string, string> = {}): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'request-id': requestId, ...extra });
}

/** A valid `message_start` event; `padding` (when given) makes it as large as a test needs. */
export function messageStart(padding = ''): string {
  return sse('message_start', {
    type: 'message_start',
    message: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      content: [],
      model: 'claude-sonnet-5',
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 3, output_tokens: 1 },
      ...(padding ? { padding } : {}),
    },
  });
}

/** The events of a complete, healthy one-delta stream. */
export function healthyStream(text = 'Hello'): string {
  return [
    messageStart(),
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 2 },
    }),
    sse('message_stop', { type: 'message_stop' }),
  ].join('');
}

/** A valid non-streaming Message body. */
export function healthyMessage(text = 'Hello'): Record<string, unknown> {
  return {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-5',
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 3, output_tokens: 2 },
  };
}

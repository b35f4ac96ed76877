import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

const noop = (): void => {};

/**
 * An `AbortSignal` that fires when the client goes away before the response finished.
 * `res 'close'` is the disconnect signal; `req 'close'` only means the body was read.
 *
 * @example
 * ```ts
 * const signal = closeSignal(res);
 * signal.addEventListener('abort', () => console.log('client left'));
 * ```
 */
export function closeSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);
  return controller.signal;
}

/** Node's header object seen through `get(name)`. */
export function headerReader(req: IncomingMessage): { get(name: string): string | null } {
  return new NodeHeaders(req.headers);
}

// A class: its `get` is one shared prototype method, not a closure per request.
class NodeHeaders {
  readonly #headers: IncomingHttpHeaders;

  constructor(headers: IncomingHttpHeaders) {
    this.#headers = headers;
  }

  get(name: string): string | null {
    const value = this.#headers[name];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }
}

/**
 * A Web `Request` for core, from Node's request. When a body parser already read the body
 * (`express.json()`), its result is re-serialized; otherwise the raw stream is passed on.
 *
 * @example
 * ```ts
 * const response = await route.proxy(toWebRequest(req, closeSignal(res)));
 * ```
 */
export function toWebRequest(req: IncomingMessage & { body?: unknown }, signal: AbortSignal): Request {
  const headers = new Headers();
  for (let index = 0; index < req.rawHeaders.length; index += 2) {
    headers.append(req.rawHeaders[index]!, req.rawHeaders[index + 1]!);
  }
  const method = req.method ?? 'GET';
  let body: BodyInit | null = null;
  if (method !== 'GET' && method !== 'HEAD') {
    if (req.body !== undefined && req.readableEnded) {
      body =
        typeof req.body === 'string'
          ? req.body
          : Buffer.isBuffer(req.body)
            ? new Uint8Array(req.body)
            : JSON.stringify(req.body);
      headers.delete('content-length');
    } else {
      body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
    }
  }
  return new Request(`http://localhost${req.url ?? '/'}`, {
    method,
    headers,
    body,
    signal,
    // Node's fetch needs this for a streamed body.
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  });
}

function waitForDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Writes a Web `Response` to Node's `res`: honours `write() === false` / `'drain'`, flushes
 * after each chunk (so `compression` does not hold SSE back), and cancels the body when the
 * client disconnects so the stream engine aborts the upstream.
 *
 * @example
 * ```ts
 * await writeWebResponse(res, await route.proxy(toWebRequest(req, closeSignal(res))));
 * ```
 */
export async function writeWebResponse(res: ServerResponse, response: Response): Promise<void> {
  if (res.headersSent || res.destroyed) {
    await response.body?.cancel().catch(noop);
    return;
  }
  res.statusCode = response.status;
  response.headers.forEach((value, name) => res.setHeader(name, value));
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const onClose = () => {
    if (!res.writableFinished) reader.cancel().catch(noop);
  };
  res.once('close', onClose);
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) res.flushHeaders();
  const flushable = res as ServerResponse & { flush?: () => void };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) break;
      const drained = res.write(value);
      flushable.flush?.();
      if (!drained) await waitForDrain(res);
    }
    if (!res.destroyed) res.end();
  } catch {
    res.destroy();
  } finally {
    res.off('close', onClose);
  }
}

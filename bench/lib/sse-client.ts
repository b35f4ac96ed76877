import { request, type Agent } from 'node:http';

/** One SSE event as the end user received it; `at` is `performance.now()` when its last byte arrived. */
export interface SseArrival {
  type: string;
  at: number;
}

export interface SseResult {
  status: number;
  startedAt: number;
  events: SseArrival[];
  endedAt: number;
  /** `close()` was called before the response ended. */
  closedByUs: boolean;
  error: string | undefined;
}

export interface SseOptions {
  url: string;
  body: string;
  headers?: Record<string, string>;
  agent?: Agent;
  /** The whole exchange; the request is destroyed after it. */
  timeoutMs: number;
  onEvent?: (event: SseArrival, index: number) => void;
}

export interface SseHandle {
  result: Promise<SseResult>;
  /** Destroys the connection (the end user goes away); returns `performance.now()` just before. */
  close(): number;
}

/** POSTs `body` and reads the answer as SSE, timing every event. */
export function openSse(options: SseOptions): SseHandle {
  const target = new URL(options.url);
  const startedAt = performance.now();
  const events: SseArrival[] = [];
  let status = 0;
  let closedByUs = false;
  let settle: (error?: string) => void = () => {};
  const req = request({
    host: target.hostname,
    port: target.port,
    path: target.pathname,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    ...(options.agent && { agent: options.agent }),
  });
  const result = new Promise<SseResult>((resolve) => {
    let done = false;
    const timer = setTimeout(() => {
      settle('timeout');
      req.destroy();
    }, options.timeoutMs);
    settle = (error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ status, startedAt, events, endedAt: performance.now(), closedByUs, error });
    };
  });
  req.on('response', (res) => {
    status = res.statusCode ?? 0;
    res.setEncoding('utf8');
    let buffer = '';
    res.on('data', (chunk: string) => {
      const at = performance.now();
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: ?(.*)$/m.exec(block)?.[1] ?? 'message';
        const event = { type, at };
        events.push(event);
        options.onEvent?.(event, events.length - 1);
      }
    });
    res.on('end', () => settle());
    res.on('error', (error) => settle(closedByUs ? undefined : String(error)));
    res.on('close', () => settle(closedByUs ? undefined : 'closed'));
  });
  req.on('error', (error) => settle(closedByUs ? undefined : String(error)));
  req.end(options.body);
  return {
    result,
    close() {
      const at = performance.now();
      closedByUs = true;
      req.destroy();
      return at;
    },
  };
}

/** Non-streaming POST; resolves with the status and the time to the end of the body. */
export function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  agent?: Agent,
): Promise<{ status: number; elapsedMs: number; body: string }> {
  const target = new URL(url);
  const startedAt = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (status: number, text: string) => {
      if (done) return;
      done = true;
      resolve({ status, elapsedMs: performance.now() - startedAt, body: text });
    };
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        ...(agent && { agent }),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => finish(res.statusCode ?? 0, text));
        res.on('error', () => finish(0, text));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', () => finish(0, ''));
    req.end(body);
  });
}

import type { Lane } from './concurrency-limiter.js';
import type { ClaudeMessage, ClaudeRequestOptions, MessageCreateParams, MessageStreamParams } from './claude-client.js';
import type { Deadline } from './deadline.js';
import type { RequestLogger } from './logger.js';
import type { ClaudeGuardError } from './guard-error.js';
import type { AttemptContext } from './retry-loop.js';
import type { StreamFormat } from './stream-engine.js';
import type { StreamFinal } from './stream-final.js';

/**
 * Anything with `get(name)`: a `Headers`, or an adapter's view of Node's header object.
 *
 * @example
 * ```ts
 * const headers: HeaderReader = { get: (name) => nodeRequest.headers[name] as string | undefined };
 * ```
 */
export interface HeaderReader {
  get(name: string): string | null | undefined;
}

/**
 * What an adapter passes to start a guarded request.
 *
 * @example
 * ```ts
 * route.begin({ headers: request.headers, signal: request.signal });
 * ```
 */
export interface BeginInput {
  headers: HeaderReader;
  /** Aborts when the end user disconnects. */
  signal?: AbortSignal | undefined;
  /** This call's queue lane when the route has a concurrency limit. Default: the route's `concurrency.lane`. */
  lane?: Lane | undefined;
}

/**
 * The outcome of {@link GuardedRoute.begin}: a call, or an immediate answer (bad deadline header).
 *
 * @example
 * ```ts
 * const begun = route.begin(input);
 * if (!begun.ok) return begun.response;
 * ```
 */
export type BeginResult = { ok: true; call: GuardedCall } | { ok: false; response: Response; error: ClaudeGuardError };

/**
 * Options of {@link GuardedClaude.stream}.
 *
 * @example
 * ```ts
 * await call.claude.stream(params, { format: 'text' });
 * ```
 */
export interface StreamCallOptions {
  /** `anthropic` re-emits Claude's events; `text` sends `event: text` deltas then `event: done`. Default `anthropic`. */
  format?: StreamFormat;
  /**
   * Called once when the stream is over: completed, aborted by the client, or failed (before or
   * after its commit), with the Message assembled from the events (content blocks, stop reason,
   * usage, including the output tokens of an aborted stream) or the failure; see
   * {@link StreamFinal}. The stream never waits for it; what it throws or rejects with is logged at
   * error level (`claude-guard onFinal failed`), never sent.
   */
  onFinal?: ((final: StreamFinal) => void | Promise<void>) | undefined;
}

/**
 * The Claude facade a guarded handler uses (`req.claude` in Express, `c.var.claude` in Hono).
 * Every call runs under the request's deadline, the route's retry policy and breaker.
 *
 * @example
 * ```ts
 * const message = await req.claude.messages.create({ model: 'claude-sonnet-5', max_tokens: 512, messages });
 * ```
 */
export interface GuardedClaude {
  readonly messages: {
    /** `client.messages.create` (non-streaming), guarded. The guard sets `signal`, `timeout` and `maxRetries: 0`. */
    readonly create: (params: MessageCreateParams, options?: ClaudeRequestOptions) => Promise<ClaudeMessage>;
  };
  /** Streams a message as an SSE `Response`. Resolves when the stream commits, or with an error response if it never does. */
  readonly stream: (params: MessageStreamParams, options?: StreamCallOptions) => Promise<Response>;
  /** Runs any Claude call under the guard; forward `signal` and `timeout` to it. */
  readonly run: <T>(fn: (attempt: AttemptContext) => Promise<T>) => Promise<T>;
  /** The request's deadline: `remaining()`, `signal`, `toHeaders()`. */
  readonly deadline: Deadline;
  /** The correlation id, echoed under `requestIdHeader` (default `x-request-id`). */
  readonly requestId: string;
  /**
   * This request's logger: every line carries `route` and `requestId`. It is `logger.child({ route,
   * requestId })` when the guard's logger has `child()` (pino), else the guard's logger with both
   * fields added (one JSON line each with `console`), else a logger that writes nothing. Built the
   * first time it is read (a getter: copying the facade with `{ ...claude }` leaves it out).
   */
  readonly log: RequestLogger;
}

/**
 * One guarded request: its deadline, correlation id, the Claude facade its handler uses, and its
 * one log line. Adapters get it from `route.begin()` and call `end()` when the response is over.
 *
 * @example
 * ```ts
 * const begun = route.begin({ headers: request.headers, signal: request.signal });
 * if (!begun.ok) return begun.response;
 * try { return Response.json(await begun.call.claude.messages.create(params)); }
 * catch (err) { return begun.call.errorResponse(err); }
 * finally { begun.call.end(200); }
 * ```
 */
export interface GuardedCall {
  readonly requestId: string;
  /** The header the id is read from and echoed in (the guard's `requestIdHeader`). */
  readonly requestIdHeader: string;
  readonly deadline: Deadline;
  readonly claude: GuardedClaude;
  /** Runs `fn` under the deadline, retry policy and breaker. */
  run<T>(fn: (attempt: AttemptContext) => Promise<T>): Promise<T>;
  /**
   * The fallback model that answered this request's non-streaming call (`x-claude-guard-fallback`),
   * if one did; a stream served by a fallback carries the header itself.
   */
  readonly fallbackModel: string | undefined;
  /** Headers every response of this request carries: the correlation id, and the upstream's once it answered. */
  responseHeaders(): Headers;
  /** Turns any error thrown under this call into the sanitized Anthropic-shaped response. */
  errorResponse(error: unknown): Response;
  /** Any error as a {@link ClaudeGuardError}; foreign errors become a generic 500 (no stack, no text). */
  toGuardError(error: unknown): ClaudeGuardError;
  /**
   * Marks the response as finished with `status`. Writes the log line and releases the
   * deadline's timer, at once or, while a stream is still running, when it ends. Idempotent.
   */
  end(status: number): void;
}

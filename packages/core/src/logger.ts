/**
 * A pino- or console-compatible logger: `info(object, message)`, and `warn` and `error` when it has
 * them (a missing level falls back to the next lower one). The guard writes one structured line per
 * request and never puts prompt text, completion text or keys in it. With `child(bindings)` (pino,
 * bunyan), `claude.log` in a handler is `logger.child({ route, requestId })`.
 *
 * @example
 * ```ts
 * createClaudeGuard({ client, logger: pino() });
 * createClaudeGuard({ client, logger: console }); // one JSON line per request
 * ```
 */
export interface GuardLogger {
  info(record: object, message?: string): void;
  warn?(record: object, message?: string): void;
  error?(record: object, message?: string): void;
  child?(bindings: Record<string, unknown>): GuardLogger;
}

/**
 * A log line's level: `info` for a request that succeeded (or whose client left), `warn` for
 * upstream failures, breaker refusals and deadline expiries, `error` for internal errors.
 *
 * @example
 * ```ts
 * const level: LogLevel = 'warn';
 * ```
 */
export type LogLevel = 'info' | 'warn' | 'error';

/**
 * How lines are handed to the logger. `object`: `logger.info(record, message)`, for structured
 * loggers (pino). `json`: one string, `{"level":"info","msg":"claude-guard request",...fields}`, so
 * that `console` prints one line per request. `auto`: `json` for a console (`console`, a `node:console`
 * `Console`, anything with `table`, `dir` and `group`), `object` for anything else.
 *
 * @example
 * ```ts
 * createClaudeGuard({ client, logger: myConsoleLikeLogger, logFormat: 'json' });
 * ```
 */
export type LogFormat = 'auto' | 'object' | 'json';

/**
 * `claude.log` in a guarded handler: lines tied to the request (`route` and `requestId` in every
 * one). The logger's own `child({ route, requestId })` when it has one, else the guard's logger with
 * both fields added; with no logger, lines go nowhere.
 *
 * @example
 * ```ts
 * req.claude.log.info({ userId, outputTokens: message.usage.output_tokens }, 'reply saved');
 * ```
 */
export interface RequestLogger {
  info(record: object, message?: string): void;
  warn(record: object, message?: string): void;
  error(record: object, message?: string): void;
}

// A level's method, as called: a record and a message, or one JSON string.
type LogFn = (record: object | string, message?: string) => void;

/**
 * Whether `logger` is a console: `console` itself, a `node:console` `Console`, or any object with a
 * console's own methods (`table`, `dir`, `group`: no structured logger has them). Duck-typed, as
 * test runners and runtimes (Bun, Deno, workerd) each have their own console.
 */
function isConsole(logger: GuardLogger): boolean {
  if (logger === globalThis.console) return true;
  const like = logger as Partial<Record<'table' | 'dir' | 'group', unknown>>;
  return typeof like.table === 'function' && typeof like.dir === 'function' && typeof like.group === 'function';
}

/**
 * @internal Writes the guard's lines to its logger, at their level and in the chosen format, built
 * once per guard. A logger that throws never reaches the request: its error is dropped.
 */
export class LogWriter {
  readonly #logger: GuardLogger;
  readonly #json: boolean;

  constructor(logger: GuardLogger, format: LogFormat) {
    this.#logger = logger;
    this.#json = format === 'json' || (format === 'auto' && isConsole(logger));
  }

  /** Whether lines go out as one JSON string each. */
  get json(): boolean {
    return this.#json;
  }

  write(level: LogLevel, record: object, message: string | undefined): void {
    writeTo(this.#logger, this.#json, level, record, message);
  }

  /** The request logger of one request (see {@link RequestLogger}); built only when a handler asks. */
  forRequest(route: string, requestId: string): RequestLogger {
    const logger = this.#logger;
    const json = this.#json;
    if (!json && typeof logger.child === 'function') {
      try {
        const child = logger.child({ route, requestId });
        if (typeof child.warn === 'function' && typeof child.error === 'function') return child as RequestLogger;
        return {
          info: (record, message) => writeTo(child, false, 'info', record, message),
          warn: (record, message) => writeTo(child, false, 'warn', record, message),
          error: (record, message) => writeTo(child, false, 'error', record, message),
        };
      } catch {
        // A logger whose child() fails still gets the request's lines, with the fields added.
      }
    }
    const write = (level: LogLevel) => (record: object, message?: string) =>
      writeTo(logger, json, level, { route, requestId, ...record }, message);
    return { info: write('info'), warn: write('warn'), error: write('error') };
  }
}

/** @internal The request logger of a guard without a logger: it writes nothing. */
export const NO_REQUEST_LOG: RequestLogger = Object.freeze({ info: () => {}, warn: () => {}, error: () => {} });

function writeTo(logger: GuardLogger, json: boolean, level: LogLevel, record: object, message?: string): void {
  // The level asked for, else the next lower one the logger has.
  const method = level === 'error' && logger.error ? 'error' : level !== 'info' && logger.warn ? 'warn' : 'info';
  const target = logger as Record<typeof method, LogFn>;
  try {
    if (json) target[method](jsonLine(level, record, message));
    else if (message === undefined) target[method](record);
    else target[method](record, message);
  } catch {
    // Logging never changes the answer a client gets, nor ends a stream.
  }
}

function jsonLine(level: LogLevel, record: object, message: string | undefined): string {
  try {
    return JSON.stringify({ level, msg: message, ...record }, errorsAsObjects);
  } catch {
    // A handler's record that JSON cannot hold (a cycle, a BigInt): the line says so rather than vanish.
    return JSON.stringify({ level, msg: message, logError: 'the record could not be written as JSON' });
  }
}

// `JSON.stringify(new Error())` is `{}`: an error is written as its name, message and stack.
function errorsAsObjects(_key: string, value: unknown): unknown {
  return value instanceof Error ? { type: value.name, message: value.message, stack: value.stack } : value;
}

/**
 * The request log line's fields (also the `request-end` event's). Token counts and timings are
 * `undefined` when the request never got that far (no upstream answer, no commit).
 *
 * @example
 * ```ts
 * guard.on((event) => { if (event.type === 'request-end') console.log(event.route, event.status, event.attempts); });
 * ```
 */
export interface RequestLogRecord {
  route: string;
  requestId: string;
  /** The id of the last upstream answer (validated), if Claude answered. */
  upstreamRequestId: string | undefined;
  /** What the client got; 499 when it went away first. */
  status: number;
  outcome: string;
  /** Upstream attempts made (a breaker's refusal is not one). */
  attempts: number;
  durationMs: number;
  model: string | undefined;
  stream: boolean;
  outputTokens: number | undefined;
  inputTokens: number | undefined;
  /** Input tokens read from the prompt cache. */
  cacheReadInputTokens: number | undefined;
  /** Input tokens written to the prompt cache. */
  cacheCreationInputTokens: number | undefined;
  /** Milliseconds from the request's start to the first upstream response headers. */
  firstByteMs: number | undefined;
  /** Milliseconds from the request's start to a stream's commit (its 200 going out). */
  commitMs: number | undefined;
  /**
   * Streams: milliseconds from the request's start to the upstream's first data event (of the
   * attempt that answered; retries before it included). Apart from `commitMs` when a heartbeat
   * committed the stream first.
   */
  firstEventMs: number | undefined;
  sdkVersion: string;
  /**
   * The upstream's own message for the failure that ended the request (a field-level 400, say),
   * redacted like everything upstream-originated; `undefined` when it sent none. A client of a
   * guarded route sees it only with `forwardUpstreamClientErrors`.
   */
  upstreamMessage: string | undefined;
  /** `error.details.error_code` of that failure (`enforced_spend_limit_reached`, ...), when it had one. */
  errorCode: string | undefined;
}

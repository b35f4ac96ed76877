/**
 * A pino- or console-compatible logger: `info(object, message)`. The guard writes one
 * structured line per request and never puts prompt text, completion text or keys in it.
 *
 * @example
 * ```ts
 * createClaudeGuard({ client, logger: pino() });
 * createClaudeGuard({ client, logger: console });
 * ```
 */
export interface GuardLogger {
  info(record: object, message?: string): void;
  warn?(record: object, message?: string): void;
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

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
 * The request log line's fields.
 *
 * @example
 * ```ts
 * guard.on((event) => { if (event.type === 'request-end') console.log(event.route, event.status, event.attempts); });
 * ```
 */
export interface RequestLogRecord {
  route: string;
  requestId: string;
  upstreamRequestId: string | undefined;
  status: number;
  outcome: string;
  attempts: number;
  durationMs: number;
  model: string | undefined;
  stream: boolean;
  outputTokens: number | undefined;
  sdkVersion: string;
}

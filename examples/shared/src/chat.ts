import type { GuardLogger, MessageCreateParams } from '@claude-guard/core';

/**
 * Validates a `/chat` body (`{"message": "...", "stream"?: true}`) and builds the Claude
 * parameters for it.
 *
 * @example
 * ```ts
 * const chat = chatParams(req.body, 'claude-sonnet-5');
 * if (!chat.ok) return res.status(400).json(...);
 * ```
 */
export function chatParams(
  body: unknown,
  model: string,
): { ok: true; params: MessageCreateParams; stream: boolean } | { ok: false; error: string } {
  const record = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const message = record['message'];
  if (typeof message !== 'string' || message.length === 0 || message.length > 4000) {
    return { ok: false, error: 'message: must be a string of 1 to 4000 characters' };
  }
  return {
    ok: true,
    stream: record['stream'] === true,
    params: { model, max_tokens: 1024, messages: [{ role: 'user', content: message }] },
  };
}

/** One JSON line on stdout, with its level first, as the guard's own `logFormat: 'json'` writes it. */
const jsonLine = (level: 'info' | 'warn' | 'error') => (record: object, message?: string) =>
  console.log(JSON.stringify({ level, msg: message, ...record }));

/**
 * One JSON line per record on stdout, each with its `level` (`info` for successes, `warn` for upstream
 * failures, breaker refusals and deadlines, `error` for bugs with their stack): what a log shipper wants.
 */
export const jsonLogger: GuardLogger = { info: jsonLine('info'), warn: jsonLine('warn'), error: jsonLine('error') };

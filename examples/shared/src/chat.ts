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

/** One JSON line per record on stdout: what a log shipper wants. */
export const jsonLogger: GuardLogger = {
  info: (record, message) => console.log(JSON.stringify({ msg: message, ...record })),
};

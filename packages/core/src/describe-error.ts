import { findSecrets } from './secret-scan.js';

// Stacks are scanned whole (up to this much) and logged up to half of it.
const MAX_SCANNED_CHARS = 32_768;
const MAX_LOGGED_CHARS = 16_384;

/**
 * An error's name, message and stack for a log line (`err`), the secrets and anything shaped like an
 * Anthropic key redacted; any thrown value (a string, an object) too. Only what a log may hold: a
 * client never gets it.
 *
 * @param error - Whatever was thrown.
 * @param secrets - The guard's secrets (its client's API key).
 * @returns `{ type, message, stack? }`.
 *
 * @example
 * ```ts
 * log.write('error', { route, requestId, err: describeError(error, secrets) }, 'claude-guard onFinal failed');
 * ```
 */
export function describeError(
  error: unknown,
  secrets: readonly string[],
): { type: string; message: string; stack?: string } {
  if (!(error instanceof Error)) return { type: typeof error, message: redactForLog(String(error), secrets) };
  const described = { type: error.name, message: redactForLog(error.message, secrets) };
  return typeof error.stack === 'string' ? { ...described, stack: redactForLog(error.stack, secrets) } : described;
}

function redactForLog(text: string, secrets: readonly string[]): string {
  const scanned = text.slice(0, MAX_SCANNED_CHARS);
  let redacted = '';
  let at = 0;
  for (const [start, end] of findSecrets(scanned, secrets)) {
    redacted += `${scanned.slice(at, start)}[redacted]`;
    at = end;
  }
  return (redacted + scanned.slice(at)).slice(0, MAX_LOGGED_CHARS);
}

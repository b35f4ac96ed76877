import type { ClaudeRequestOptions } from './claude-client.js';
import type { AttemptContext } from './retry-loop.js';

/**
 * The SDK request options one attempt must be made with: its `signal` (the deadline, the client
 * leaving, the route's attempt timeout), its `timeout` (the time the attempt may take), and
 * `maxRetries: 0` (the guard retries; an SDK retrying underneath multiplies attempts). Code run by
 * `guard.run` or `claude.run` passes them whole, so that none is forgotten. Your own options (extra
 * `headers`, say) are kept; a `signal` of yours is honoured along with the attempt's; the attempt's
 * `timeout` and `maxRetries: 0` win.
 *
 * @param attempt - What `guard.run`'s or `claude.run`'s `fn` is given.
 * @param options - Request options of your own, if any.
 * @returns The options to pass as the SDK call's second argument.
 *
 * @example
 * ```ts
 * import { sdkOptions } from '@claude-guard/core';
 *
 * await guard.run('nightly-digest', (attempt) => client.messages.create(params, sdkOptions(attempt)), {
 *   deadlineMs: 240_000,
 * });
 * ```
 */
export function sdkOptions(
  attempt: Pick<AttemptContext, 'signal' | 'timeout'>,
  options?: ClaudeRequestOptions,
): ClaudeRequestOptions & { signal: AbortSignal; timeout: number; maxRetries: 0 } {
  const signal = attempt.signal;
  const own = options?.signal;
  return {
    ...options,
    signal: own ? AbortSignal.any([signal, own]) : signal,
    timeout: attempt.timeout,
    maxRetries: 0,
  };
}

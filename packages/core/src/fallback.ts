import type { ClaudeGuardError } from './guard-error.js';
import type { MessageCreateParams } from './claude-client.js';

/**
 * What the fallback is told.
 *
 * @example
 * ```ts
 * fallback: ({ reason, route }) => ({ type: 'message', role: 'assistant', content: [{ type: 'text', text: `${route}: ${reason}` }] })
 * ```
 */
export interface FallbackContext {
  route: string;
  reason: 'breaker-open' | 'exhausted';
  error: ClaudeGuardError;
  /** The call's parameters, when the call went through `messages.create` or the passthrough. */
  params: MessageCreateParams | undefined;
  signal: AbortSignal;
}

/**
 * A route's plan B for non-streaming calls: retry once on another model, outside the route's
 * breaker, or compute an answer yourself (its return value is the response body).
 *
 * @example
 * ```ts
 * claudeGuard(guard, { route: 'summarize', fallback: { model: 'claude-haiku-4-5' } });
 * claudeGuard(guard, { route: 'tips', fallback: () => ({ type: 'message', role: 'assistant', content: [] }) });
 * ```
 */
export type RouteFallback = { model: string } | ((context: FallbackContext) => unknown);

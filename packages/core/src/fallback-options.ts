import type Anthropic from '@anthropic-ai/sdk';
import type { MessageCreateParams } from './claude-client.js';
import type { ClaudeGuardError } from './guard-error.js';

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
 * What a fallback target's client must have: `messages.create`, the only method the guard calls. Any
 * `new Anthropic()` fits, and so do `AnthropicBedrock` and `AnthropicVertex`, whose `messages` lack
 * `batches` (and, on Bedrock, `countTokens`), so they are no {@link ClaudeClient}.
 *
 * @example
 * ```ts
 * const client: FallbackClient = new AnthropicBedrock({ awsRegion: 'us-east-1', maxRetries: 0 });
 * ```
 */
export interface FallbackClient {
  readonly messages: Pick<Anthropic['messages'], 'create'>;
}

/**
 * One place a route's calls may go when its own deployment cannot answer before anything was sent:
 * another model on the route's client, or another client (a second key or region, or
 * `AnthropicBedrock` / `AnthropicVertex`, which take the same Messages parameters). `model` is the
 * id the target's own platform knows: on Bedrock `anthropic.claude-...` ids or inference-profile
 * ARNs, on Vertex `claude-...@version` ids; the route's callers keep sending Anthropic ids.
 *
 * @example
 * ```ts
 * claudeProxy(guard, { route: 'proxy', fallback: [
 *   { model: 'claude-haiku-4-5' },
 *   { client: new AnthropicBedrock({ awsRegion: 'us-east-1' }), model: 'anthropic.claude-haiku-4-5-20251001-v1:0' },
 * ] });
 * ```
 */
export interface FallbackTarget {
  /** The model asked of this target, in its platform's ids. */
  model: string;
  /** The client this target is called with. Default: the route's (the guard's) client. */
  client?: FallbackClient | undefined;
  /** Attempts on this target, the first included. Default `1`. */
  maxAttempts?: number;
  /** This target's breaker key. Default `<route>:fallback:<model>`. */
  breakerKey?: string;
}

/**
 * A route's plan B when its own attempts cannot answer before anything was sent (breaker open,
 * attempts exhausted): a {@link FallbackTarget} (another model, or another client), a list of them
 * tried in order (streams and non-streaming calls), or a function computing the answer yourself
 * (its return value is the response body; non-streaming calls only).
 *
 * @example
 * ```ts
 * claudeGuard(guard, { route: 'summarize', fallback: { model: 'claude-haiku-4-5' } });
 * claudeGuard(guard, { route: 'chat', fallback: [{ client: secondRegion, model: 'claude-sonnet-5' }, { model: 'claude-haiku-4-5' }] });
 * claudeGuard(guard, { route: 'tips', fallback: () => ({ type: 'message', role: 'assistant', content: [] }) });
 * ```
 */
export type RouteFallback = FallbackTarget | readonly FallbackTarget[] | ((context: FallbackContext) => unknown);

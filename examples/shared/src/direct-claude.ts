import Anthropic from '@anthropic-ai/sdk';
import type { ClaudeGuard } from '@claude-guard/core';
import type { ExampleUpstream } from './upstream.js';

/**
 * The SDK client of `POST /chat-direct`: the kind of client a service module deep below your
 * handlers holds (`export const claude = new Anthropic(...)`), made once per app and guarded by
 * `guard.middleware()` alone. Every call on it runs under route `chat-direct`: inside a request the
 * request's deadline, disconnect and id; elsewhere the route's defaults. `maxRetries: 0` says what
 * is true anyway: the middleware answers every failure with `x-should-retry: false`, so the SDK
 * never retries on top of the guard.
 *
 * @param guard - the example's guard
 * @param upstream - where the guard's own client points (the Claude API or the embedded fake)
 * @returns the client
 * @example
 * ```ts
 * const claude = createDirectClaude(guard, upstream);
 * const message = await claude.messages.create(params); // guarded, with no req.claude in sight
 * ```
 */
export function createDirectClaude(guard: ClaudeGuard, upstream: ExampleUpstream): Anthropic {
  const { apiKey, baseURL } = upstream.client;
  return new Anthropic({
    apiKey,
    baseURL,
    maxRetries: 0,
    middleware: [guard.middleware({ route: 'chat-direct' })],
  });
}

/**
 * A Message's text blocks, joined.
 *
 * @example
 * ```ts
 * res.json({ text: messageText(await claude.messages.create(params)) });
 * ```
 */
export function messageText(message: Anthropic.Message): string {
  return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

/** What a test's Message may vary. */
export interface TestMessageOptions {
  model?: string;
  text?: string;
  inputTokens?: number;
  outputTokens?: number;
}

/**
 * A complete non-streaming Message as the Messages API answers it, for the core's unit tests (not
 * exported by the package).
 *
 * @example
 * ```ts
 * const fetch = () => Promise.resolve(Response.json(testMessage({ inputTokens: 900 })));
 * ```
 */
export function testMessage(options: TestMessageOptions = {}) {
  return {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: options.model ?? 'claude-x',
    content: [{ type: 'text', text: options.text ?? 'Hi' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: options.inputTokens ?? 3, output_tokens: options.outputTokens ?? 1 },
  };
}

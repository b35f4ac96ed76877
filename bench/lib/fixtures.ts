import Anthropic from '@anthropic-ai/sdk';

export const MODEL = 'claude-sonnet-5';

/** The non-streaming call every chat route makes. */
export function chatParams(text: string): Anthropic.MessageCreateParamsNonStreaming {
  return { model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: text }] };
}

export function textOf(message: Anthropic.Message): string {
  return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

/** The body of a streaming `POST /v1/messages` from the end user. */
export function streamBody(maxTokens = 64): string {
  return JSON.stringify({
    model: MODEL,
    max_tokens: maxTokens,
    stream: true,
    messages: [{ role: 'user', content: 'stream this bench reply word by word please' }],
  });
}

export const CHAT_BODY = JSON.stringify({ message: 'hello bench' });
export const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/**
 * A fake-anthropic budget no throughput run comes near (a billion requests and tokens a minute): its
 * `anthropic-ratelimit-*` headers are sent, and read by the guard as a real API's would be, but never run
 * out. The fake's informational default (4 000 requests a minute) would: the guard would then hold the
 * client until the reset, and the run would measure that instead of the guard's cost.
 */
export const AMPLE_RATE_LIMITS = {
  requests: 1_000_000_000,
  inputTokens: 1_000_000_000,
  outputTokens: 1_000_000_000,
  tokens: 1_000_000_000,
  windowMs: 60_000,
} as const;

/** The Message the in-process upstreams answer with (scenarios 1 and 8, tools/telemetry-cost.ts). */
export const MESSAGE = {
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model: MODEL,
  content: [{ type: 'text', text: 'Hello from the bench' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 11, output_tokens: 6 },
};

/**
 * An SDK client whose `fetch` answers {@link MESSAGE} at once, in-process: the cost of the call machinery
 * alone (scenarios 1 and 8, tools/telemetry-cost.ts).
 */
export function inProcessClient(): Anthropic {
  const body = JSON.stringify(MESSAGE);
  return new Anthropic({
    apiKey: 'x',
    maxRetries: 0,
    fetch: () =>
      Promise.resolve(new Response(body, { headers: { 'content-type': 'application/json', 'request-id': 'req_1' } })),
  });
}

/**
 * fake-anthropic's configuration for the throughput scenarios (2, 8): every answer held `delayMs` before its
 * headers, with {@link AMPLE_RATE_LIMITS}. Give it when forking the fake, not with `setDefault`: the fake's
 * `reset()` after every run restores its construction config, so a `setDefault` would last one run.
 */
export function throughputFake(delayMs: number) {
  return { faultRate: 1, fault: { kind: 'delay-headers', ms: delayMs }, rateLimits: AMPLE_RATE_LIMITS } as const;
}

import { createPrng } from '@claude-guard/fake-anthropic';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  MODEL,
  SseReader,
  deltaText,
  expectedReply,
  isCompleteAnthropicStream,
  startStack,
  useProcessWatch,
  type SseMessage,
  type Stack,
} from '../support/index.js';

const STREAMS = 500;
const DISCONNECTED = STREAMS / 5;
// Streams read to the end ask for this many tokens (the fake answers one word per token)...
const SHORT_TOKENS = 20;
// ...and the ones that leave ask for a long answer, so their upstream is still generating when they go.
const LONG_TOKENS = 4096;
const LONG_WORDS = 1_000;
const TOKEN_DELAY_MS = 5;
// The breaker's rolling window, longer than the test may run (its timeout is 60 s): the counts read at the
// end are every stream's verdict however long a loaded machine takes, not only the last 10 s of them.
const WHOLE_RUN_WINDOW_MS = 600_000;

interface Plan {
  index: number;
  prompt: string;
  /** Deltas to read before leaving; undefined: read to the end. */
  leaveAfter: number | undefined;
}

interface Outcome {
  plan: Plan;
  status: number;
  events: SseMessage[];
}

function plans(seed: number): Plan[] {
  const random = createPrng(seed);
  const order = Array.from({ length: STREAMS }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const leaving = new Set(order.slice(0, DISCONNECTED));
  return Array.from({ length: STREAMS }, (_, index) => ({
    index,
    prompt: `stream ${index} lorem ipsum dolor`,
    // Anywhere from right after the 200 (no delta yet) to twenty deltas in.
    leaveAfter: leaving.has(index) ? Math.floor(random() * 21) : undefined,
  }));
}

async function run(stack: Stack, plan: Plan): Promise<Outcome> {
  const controller = new AbortController();
  const body = {
    model: MODEL,
    max_tokens: plan.leaveAfter === undefined ? SHORT_TOKENS : LONG_TOKENS,
    stream: true,
    messages: [{ role: 'user', content: plan.prompt }],
  };
  const response = await fetch(`${stack.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': `stream-${plan.index}` },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  const reader = new SseReader(response.body);
  if (plan.leaveAfter === undefined) return { plan, status: response.status, events: await reader.rest() };
  const leaveAfter = plan.leaveAfter;
  let deltas = 0;
  const events =
    leaveAfter === 0
      ? []
      : await reader.until((message) => message.event === 'content_block_delta' && ++deltas >= leaveAfter);
  controller.abort();
  await reader.cancel();
  return { plan, status: response.status, events };
}

describe('soak: 500 concurrent streams, a fifth of them abandoned', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });
  // Registered after the close above, so its listeners come off first.
  const watch = useProcessWatch();

  it.each(ADAPTERS)(
    '%s: every abandoned stream aborts its upstream, every other one arrives whole',
    async (adapter) => {
      stack = await startStack({
        adapter,
        guard: { breaker: { rollingCountTimeout: WHOLE_RUN_WINDOW_MS } },
        fake: { replyWords: LONG_WORDS, tokenDelayMs: TOKEN_DELAY_MS },
      });
      const { fake } = stack;
      const all = plans(adapter === 'express' ? 1 : 2);
      const outcomes = await Promise.all(all.map((plan) => run(stack!, plan)));
      await fake.settled();

      expect(outcomes.map((outcome) => outcome.status)).toEqual(all.map(() => 200));
      // One upstream request per stream: nothing was retried.
      expect(fake.requests).toHaveLength(STREAMS);
      const upstreamOf = new Map(
        fake.requests.map((record) => {
          const messages = (record.body as { messages: { content: string }[] }).messages;
          return [messages[0]!.content, record];
        }),
      );

      const kept = outcomes.filter((outcome) => outcome.plan.leaveAfter === undefined);
      const left = outcomes.filter((outcome) => outcome.plan.leaveAfter !== undefined);
      expect(left).toHaveLength(DISCONNECTED);
      const wrong = kept.filter(
        (outcome) =>
          !isCompleteAnthropicStream(outcome.events) ||
          deltaText(outcome.events) !== expectedReply(outcome.plan.prompt, SHORT_TOKENS),
      );
      expect(wrong.map((outcome) => outcome.plan.index)).toEqual([]);
      expect(kept.map((outcome) => upstreamOf.get(outcome.plan.prompt)?.outcome)).toEqual(kept.map(() => 'completed'));
      // Each abandoned stream's upstream was cut off long before its 1 000 words were out.
      expect(left.map((outcome) => upstreamOf.get(outcome.plan.prompt)?.outcome)).toEqual(
        left.map(() => 'client-aborted'),
      );
      const eventsSent = left.map((outcome) => upstreamOf.get(outcome.plan.prompt)?.eventsSent ?? Infinity);
      expect(Math.max(...eventsSent)).toBeLessThan(LONG_WORDS);

      // One log line each: 400 answered, 100 client-aborted. Every stream committed (a valid first event), which is
      // when the breaker's verdict is given: a success each, whatever the client did after it.
      const lines = await waitForLogs(stack, STREAMS);
      const outcomeOf = new Map(lines.map((line) => [line.requestId, line.outcome]));
      for (const outcome of outcomes) {
        const expected = outcome.plan.leaveAfter === undefined ? 'ok' : 'client-aborted';
        expect(outcomeOf.get(`stream-${outcome.plan.index}`), `stream ${outcome.plan.index}`).toBe(expected);
      }
      const breaker = stack.guard.status().breakers.find((b) => b.key === 'proxy');
      expect(breaker?.counts).toMatchObject({ successes: STREAMS, failures: 0, neutral: 0 });
      expect(watch.unhandled).toEqual([]);
      expect(watch.maxListenerWarnings).toEqual([]);
    },
    60_000,
  );
});

async function waitForLogs(stack: Stack, count: number) {
  for (let i = 0; i < 500 && stack.logs.length < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return stack.logs.map((log) => log.record);
}

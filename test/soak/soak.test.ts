import type { FaultInput } from '@claude-guard/fake-anthropic';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  MODEL,
  activeResources,
  eventually,
  expectedReply,
  findGc,
  heapAfterGc,
  pooledClient,
  resourcesAbove,
  runPool,
  startStack,
  useProcessWatch,
  type ClientResult,
  type Stack,
} from '../support/index.js';

const TOTAL = 10_000;
// Warm-up requests, faults included, so every code path is compiled before the heap is measured.
const WARM_UP = 500;
const CONCURRENCY = 100;
const DEADLINE_MS = 5_000;
// A client gives up (and counts a hang) this long after the deadline it asked for.
const HANG_AFTER_MS = DEADLINE_MS + 3_000;
const REPLY_WORDS = 6;
// Picked uniformly: a stall (cut by the attempt timeout, then retried) is one fault in eight.
const FAULTS: FaultInput[] = [
  529,
  500,
  529,
  500,
  { kind: 'reset' },
  { kind: 'reset', afterEvents: 1 },
  { kind: 'delay-headers', ms: 50 },
  { kind: 'stall' },
];
// Statuses a guarded request may end with here: an answer, or the guard's own error after retries.
const FINAL_STATUSES = new Set([200, 500, 502, 503, 504, 529]);

interface Tally {
  hangs: number;
  connectionErrors: string[];
  statuses: Map<number, number>;
  /** Answers that broke the contract: a wrong reply, a non-Anthropic error body, a retryable error. */
  broken: string[];
}

function check(result: ClientResult, prompt: string, tally: Tally): void {
  if (result.kind === 'hang') {
    tally.hangs += 1;
    return;
  }
  if (result.kind === 'error') {
    tally.connectionErrors.push(result.message);
    return;
  }
  tally.statuses.set(result.status, (tally.statuses.get(result.status) ?? 0) + 1);
  let body: { type?: unknown; content?: { text?: unknown }[]; error?: { type?: unknown }; request_id?: unknown };
  try {
    body = JSON.parse(result.text) as typeof body;
  } catch {
    tally.broken.push(`${result.status}: not JSON: ${result.text.slice(0, 80)}`);
    return;
  }
  if (result.status === 200) {
    const text = body.content?.[0]?.text;
    if (text !== expectedReply(prompt, REPLY_WORDS)) tally.broken.push(`200 with the wrong text: ${String(text)}`);
    return;
  }
  if (
    !FINAL_STATUSES.has(result.status) ||
    body.type !== 'error' ||
    typeof body.error?.type !== 'string' ||
    typeof body.request_id !== 'string' ||
    result.headers['x-should-retry'] !== 'false'
  ) {
    tally.broken.push(`${result.status}: ${result.text.slice(0, 120)}`);
  }
}

describe('soak: non-streaming passthrough under random faults', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });
  // Registered after the close above, so its listeners come off first.
  const watch = useProcessWatch();

  it.each(ADAPTERS)(
    '%s: 10 000 requests at concurrency 100 all complete, leaking no memory, handles or listeners',
    async (adapter) => {
      const gc = findGc();
      const handlesBefore = activeResources();
      stack = await startStack({
        adapter,
        keep: false,
        // 10 500 requests in well under a minute: an upstream whose rate limit fits the load (the fake's default
        // headers say 4 000 requests a minute, and the guard rightly holds requests once they say none is left).
        fake: { replyWords: REPLY_WORDS, rateLimits: { requests: 1_000_000 } },
        // A stalled attempt is cut after 1.5 s and retried inside the caller's 5 s. (Shorter limits make
        // this one-process load generator thrash on a busy machine: a cut attempt costs a new upstream
        // connection, Node accepts connections slowly while its event loop is busy, so healthy attempts
        // start timing out too.)
        proxy: { retry: { maxAttempts: 3, attemptTimeoutMs: 1_500 } },
      });
      const { fake } = stack;
      const client = pooledClient(stack.port, CONCURRENCY);
      const tally: Tally = { hangs: 0, connectionErrors: [], statuses: new Map(), broken: [] };
      const send = async (index: number) => {
        const prompt = `soak ${index} alpha beta gamma`;
        const body = JSON.stringify({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: prompt }] });
        const headers = { 'x-request-timeout-ms': String(DEADLINE_MS), 'x-request-id': `soak-${index}` };
        check(await client.post('/v1/messages', body, headers, HANG_AFTER_MS), prompt, tally);
      };

      await client.preconnect(CONCURRENCY);
      expect(client.sockets()).toBe(CONCURRENCY);
      // Warm up (JIT, pools, the error paths too), then measure where the heap stands.
      fake.setDefault({ faultRate: 0.2, fault: FAULTS, seed: 20_240_601 });
      await runPool(WARM_UP, CONCURRENCY, send);
      await fake.settled();
      fake.reset();
      const heapBefore = await heapAfterGc(gc);

      // (`reset()` restored the fault-free behaviour.)
      fake.setDefault({ faultRate: 0.2, fault: FAULTS, seed: 20_240_602 });
      tally.statuses.clear();
      await runPool(TOTAL, CONCURRENCY, (index) => send(WARM_UP + index));

      expect(tally.hangs).toBe(0);
      expect(tally.connectionErrors).toEqual([]);
      expect(tally.broken).toEqual([]);
      const answered = [...tally.statuses.values()].reduce((a, b) => a + b, 0);
      expect(answered).toBe(TOTAL);
      // Three attempts against 20 % faults: most succeed (the retry budget refuses some retries by design).
      expect(tally.statuses.get(200)).toBeGreaterThan(TOTAL * 0.8);
      // The faults did happen, and were retried.
      expect(fake.requests.length).toBeGreaterThan(TOTAL * 1.1);
      expect(stack.counts.byType.get('retry')).toBeGreaterThan(TOTAL * 0.1);
      // One log line per request, warm-up included.
      expect(stack.counts.logs).toBe(WARM_UP + TOTAL);
      expect(stack.counts.byType.get('request-end')).toBe(WARM_UP + TOTAL);
      // Every upstream exchange ended (stalled ones were aborted), none left pending.
      const settled = await Promise.race([
        fake.settled().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 5_000)),
      ]);
      expect(settled).toBe(true);
      expect(fake.requests.filter((record) => record.outcome === 'pending')).toEqual([]);
      expect(fake.requests.some((record) => record.outcome === 'client-aborted')).toBe(true);

      fake.reset();
      const heapAfter = await heapAfterGc(gc);
      // With gc: the soak keeps nothing per request. Without it, only a generous bound is meaningful.
      const boundBytes = (gc ? 16 : 50) * 1024 * 1024;
      expect(heapAfter - heapBefore).toBeLessThan(boundBytes);

      expect(watch.unhandled).toEqual([]);
      expect(watch.maxListenerWarnings).toEqual([]);
      // No breaker stayed open: 20 % faults are under its 50 % threshold.
      expect(stack.guard.status().breakers.find((breaker) => breaker.key === 'proxy')?.state).toBe('closed');

      client.destroy();
      expect(await eventually(() => client.sockets(), 0)).toBe(0);
      const app = stack;
      expect(await eventually(() => connections(app), 0)).toBe(0);
      await stack.close();
      stack = undefined;
      // Nothing left open: no socket, server or timer beyond what the process had before the test.
      expect(await eventually(() => resourcesAbove(handlesBefore), {})).toEqual({});
    },
    120_000,
  );
});

function connections(stack: Stack): Promise<number> {
  return new Promise((resolve, reject) =>
    stack.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

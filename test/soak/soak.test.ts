import type { FakeAnthropic, FaultInput, RequestRecord } from '@claude-guard/fake-anthropic';
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
  stillClock,
  useProcessWatch,
  type ClientResult,
  type Stack,
  type StillClock,
} from '../support/index.js';

const TOTAL = 10_000;
// Warm-up requests, faults included, so every code path is compiled before the heap is measured.
const WARM_UP = 500;
const CONCURRENCY = 100;
// The guard runs on a clock that stands still (see stillClock): its retry budget and breaker windows span
// the whole soak and its deadlines never run out, so what the counts below say does not depend on how fast a
// loaded machine runs 10 000 requests. (On real time, a 5 s deadline, 1.5 s attempt timeouts and 10 s windows
// made a busy machine cut healthy attempts, whose retries then spent the retry budget: 7 343 answers of 10 000.)
// A stalled attempt is cut by its attempt timeout, fired the moment the fake holds it stalled; no other
// attempt is ever cut. Both limits are long because the SDK's own timeout (the attempt's, on real time) is
// still armed: a minute never fires for a healthy attempt.
const DEADLINE_MS = 120_000;
const ATTEMPT_TIMEOUT_MS = 60_000;
// Timers shorter than this (the retry backoff) run on real time.
const REAL_BELOW_MS = 1_000;
// A client gives up (and counts a hang) after this long: no answer here needs more than queueing.
const HANG_AFTER_MS = 30_000;
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

/** The request id the soak gave the upstream request `record` (its prompt says which request it is). */
function requestIdOf(record: RequestRecord): string | undefined {
  const content = (record.body as { messages?: { content?: unknown }[] } | undefined)?.messages?.[0]?.content;
  const index = typeof content === 'string' ? /^soak (\d+) /.exec(content)?.[1] : undefined;
  return index === undefined ? undefined : `soak-${index}`;
}

/**
 * Polls the fake and fires the attempt timeout of every attempt it holds stalled (the test's own real
 * timer: however late a poll comes, the stall waits for it). Returns a stop function.
 */
function cutStalls(fake: FakeAnthropic, still: StillClock): () => void {
  let log = fake.requests;
  let seen = 0;
  const open = new Set<RequestRecord>();
  const timer = setInterval(() => {
    if (fake.requests !== log) {
      // reset(): a new log.
      log = fake.requests;
      seen = 0;
      open.clear();
    }
    for (; seen < log.length; seen++) open.add(log[seen]!);
    for (const record of open) {
      if (record.outcome !== 'pending') open.delete(record);
      else if (record.fault?.kind === 'stall') {
        const requestId = requestIdOf(record);
        if (requestId !== undefined && still.expire(requestId)) open.delete(record);
      }
    }
  }, 5);
  return () => clearInterval(timer);
}

describe('soak: non-streaming passthrough under random faults', () => {
  let stack: Stack | undefined;
  let stopCutting: (() => void) | undefined;
  afterEach(async () => {
    stopCutting?.();
    stopCutting = undefined;
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
      const still = stillClock({ attemptTimeoutMs: ATTEMPT_TIMEOUT_MS, realBelowMs: REAL_BELOW_MS });
      stack = await startStack({
        adapter,
        keep: false,
        guard: { clock: still.clock },
        fake: { replyWords: REPLY_WORDS },
        // A stalled attempt is cut by its attempt timeout and retried inside the caller's deadline.
        proxy: { retry: { maxAttempts: 3, attemptTimeoutMs: ATTEMPT_TIMEOUT_MS } },
      });
      stack.guard.on(still.onEvent);
      const { fake } = stack;
      stopCutting = cutStalls(fake, still);
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
      // Its interval is no handle of the app's.
      stopCutting();
      stopCutting = undefined;

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

// Scenario 9: a long tail of time to first event (fake-anthropic's firstEventDelays: most first events at
// 50 ms, a few at 2 s), streamed through the guard's passthrough with stream.hedge off and at 'p95', in one
// run. Time to first event is measured by the end client (the first `message_start` bytes of the response
// body); upstream attempts per request are the fake's own request count.
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, type RouteOptions } from '@claude-guard/core';
import { createFakeAnthropic, createPrng } from '@claude-guard/fake-anthropic';
import { sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult, TargetCheck } from '../lib/report.js';
import { dist, fmt, type Dist } from '../lib/stats.js';

const VARIANTS = ['hedge off', "hedge at 'p95'"] as const;
type Variant = (typeof VARIANTS)[number];
const ROUTE: Record<Variant, Omit<RouteOptions, 'route'>> = {
  'hedge off': {},
  "hedge at 'p95'": { stream: { hedge: { delay: 'p95' } } },
};
/** 97 % at 50 ms, 3 % at 2 s: the p95 is 50 ms, the p99 2 s. */
const DELAYS = [
  { ms: 50, weight: 97 },
  { ms: 2_000, weight: 3 },
];
const BODY = JSON.stringify({
  model: 'claude-sonnet-5',
  max_tokens: 16,
  stream: true,
  messages: [{ role: 'user', content: 'the quick brown fox' }],
});

interface VariantResult {
  ttfeMs: Dist;
  attemptsPerRequest: number;
  hedges: number;
  hedgesWon: number;
  /** The hedge delay the route used, as its `hedge-started` events say. */
  delayMs: Dist;
  failed: number;
}

/** Reads the response until `message_start` arrives (its time), then to the end. */
async function timeToFirstEvent(response: Response, startedAt: number): Promise<number | undefined> {
  if (response.status !== 200 || !response.body) return undefined;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let seen = '';
  let at: number | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at === undefined) {
      seen += decoder.decode(value, { stream: true });
      if (seen.includes('event: message_start')) at = performance.now() - startedAt;
    }
  }
  return at;
}

async function runVariant(variant: Variant, requests: number, warmup: number, concurrency: number) {
  const fake = await createFakeAnthropic({
    firstEventDelays: DELAYS,
    random: createPrng(17) /* the same draws for both variants' first attempts */,
    replyWords: 4,
  });
  const guard = createClaudeGuard({
    client: new Anthropic({ apiKey: 'bench', baseURL: fake.url, maxRetries: 0 }),
  });
  let hedges = 0;
  let hedgesWon = 0;
  const delays: number[] = [];
  let measuring = false;
  guard.on((event) => {
    if (!measuring) return;
    if (event.type === 'hedge-started') {
      hedges += 1;
      delays.push(event.delayMs);
    }
    if (event.type === 'hedge-won') hedgesWon += 1;
  });
  const route = guard.route({ route: 'proxy', ...ROUTE[variant] });
  const ttfe: number[] = [];
  let failed = 0;
  let next = 0;
  const one = async (index: number): Promise<void> => {
    const startedAt = performance.now();
    const response = await route.proxy(
      new Request('http://bench.local/v1/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: BODY,
      }),
    );
    const at = await timeToFirstEvent(response, startedAt);
    if (index < warmup) return;
    if (at === undefined) failed += 1;
    else ttfe.push(at);
  };
  try {
    // Warm-up first, alone: the 'p95' variant learns its percentile from these requests.
    const workers = (count: number, from: number) =>
      Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < from + count) await one(next++);
        }),
      );
    await workers(warmup, 0);
    await fake.settled();
    const upstreamAtStart = fake.requests.length;
    measuring = true;
    await workers(requests, warmup);
    await fake.settled();
    const upstream = fake.requests.length - upstreamAtStart;
    return {
      ttfeMs: dist(ttfe),
      attemptsPerRequest: upstream / requests,
      hedges,
      hedgesWon,
      delayMs: dist(delays),
      failed,
    };
  } finally {
    guard.close();
    await fake.close();
  }
}

export async function runLongTail(profile: Profile): Promise<ScenarioResult> {
  const started = performance.now();
  const requests = sized(profile, { full: 3_000, quick: 800, smoke: 150 });
  const warmup = sized(profile, { full: 200, quick: 100, smoke: 40 });
  const concurrency = 10;
  const results = {} as Record<Variant, VariantResult>;
  for (const variant of VARIANTS) results[variant] = await runVariant(variant, requests, warmup, concurrency);

  const off = results['hedge off'];
  const on = results["hedge at 'p95'"];
  const ratio = on.ttfeMs.p99 / off.ttfeMs.p99;
  const targets: TargetCheck[] = [
    {
      target: 'p99 time to first event at least halved by hedging at p95',
      measured: `${fmt(off.ttfeMs.p99)} ms -> ${fmt(on.ttfeMs.p99)} ms (x${ratio.toFixed(2)})`,
      met: Number.isFinite(ratio) ? ratio <= 0.5 : null,
    },
    {
      target: 'at most 1.15 upstream attempts per request with hedging',
      measured: on.attemptsPerRequest.toFixed(3),
      met: on.attemptsPerRequest <= 1.15,
    },
  ];
  return {
    id: 9,
    name: 'Long-tailed first events: hedging off vs at p95',
    config: { requests, warmup, concurrency, firstEventDelays: DELAYS, seed: 17 },
    tables: [
      {
        title: `Time to first event, ${requests} streams after ${warmup} warm-up, ${concurrency} at a time (97 % at 50 ms, 3 % at 2 s)`,
        columns: [
          'variant',
          'TTFE p50 (ms)',
          'TTFE p99 (ms)',
          'TTFE max (ms)',
          'upstream attempts / request',
          'hedges (won)',
          'hedge delay p50 (ms)',
          'failed',
        ],
        rows: VARIANTS.map((variant) => {
          const r = results[variant];
          return [
            variant,
            fmt(r.ttfeMs.p50),
            fmt(r.ttfeMs.p99),
            fmt(r.ttfeMs.max),
            r.attemptsPerRequest.toFixed(3),
            `${r.hedges} (${r.hedgesWon})`,
            r.hedges === 0 ? '-' : fmt(r.delayMs.p50),
            String(r.failed),
          ];
        }),
      },
    ],
    targets,
    notes: [
      'In-process: the guard route is called with a Web Request (route.proxy); the fake is reached over loopback HTTP by the SDK.',
      "The 'p95' variant learns its delay from its own warm-up requests (initialDelayMs 1000 until 20 first events were seen).",
    ],
    figures: { results },
    durationMs: performance.now() - started,
  };
}

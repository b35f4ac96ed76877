// Scenario 7: over quota. Open-loop load at twice the fake's scripted requests-per-minute limit, the raw
// SDK (its default maxRetries 2, which retries every 429 after its retry-after) against the guard
// (rate-limit awareness on, its default: requests that cannot fit are held until the reset when their
// deadline reaches past it, else answered 429 at once without calling the upstream). Server, fake and
// load generator are separate processes.
import type { FakeLog, FakeReady } from '../procs/fake.js';
import type { OpenLoopParams, OpenLoopResult } from '../procs/load.js';
import type { ServerReady } from '../procs/server.js';
import { JSON_HEADERS } from '../lib/fixtures.js';
import { forkChild, type BenchChild } from '../lib/ipc.js';
import { rotated, sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult, TargetCheck } from '../lib/report.js';
import { dist, fmt, fmtPercent, fmtSpread, spread } from '../lib/stats.js';

const VARIANTS = ['raw SDK (maxRetries 2)', 'guard'] as const;
type Variant = (typeof VARIANTS)[number];
const PATH: Record<Variant, string> = { 'raw SDK (maxRetries 2)': '/bare/chat', guard: '/guard/chat' };

interface QuotaRun {
  users: number;
  upstreamRequests: number;
  upstream429s: number;
  successes: number;
  successPerSec: number;
  successP50Ms: number;
  successP99Ms: number;
  /** User answers by status (0: timeout or connection error). */
  statuses: Record<string, number>;
}

const TRACED_BODY = JSON.stringify({ message: 'bench #{i}' });

export async function runOverQuota(profile: Profile): Promise<ScenarioResult> {
  const startedAt = performance.now();
  const rounds = sized(profile, { full: 2, quick: 1 });
  const durationMs = sized(profile, { full: 30_000, quick: 10_000, smoke: 3_000 });
  // The fake's budget: `requests` per `windowMs` (a window opens with the first request after the last one ended).
  const windowMs = 5_000;
  const requestsPerWindow = 25;
  const limitPerMinute = (requestsPerWindow * 60_000) / windowMs;
  const ratePerSec = (2 * limitPerMinute) / 60;
  // A little under the load generator's own 30 s timeout, as a route in front of such clients would set it.
  const deadlineMs = 25_000;
  const upstreamDelayMs = 20;

  const fake = await forkChild<FakeReady>(new URL('../procs/fake.ts', import.meta.url), {
    firstEventDelayMs: upstreamDelayMs,
    rateLimits: { requests: requestsPerWindow, windowMs },
  });
  const load = await forkChild<unknown>(new URL('../procs/load.ts', import.meta.url), {});
  const runs: Record<Variant, QuotaRun[]> = { 'raw SDK (maxRetries 2)': [], guard: [] };

  const runOnce = async (variant: Variant): Promise<QuotaRun> => {
    // A fresh server and a fresh budget per run: nothing learned or spent carries over.
    const server: BenchChild<ServerReady> = await forkChild<ServerReady>(
      new URL('../procs/server.ts', import.meta.url),
      { upstream: fake.ready.url, guard: { deadline: { defaultMs: deadlineMs } } },
    );
    try {
      await fake.call('reset');
      const result = await load.call<OpenLoopResult>(
        'openLoop',
        {
          url: `${server.ready.express}${PATH[variant]}`,
          body: TRACED_BODY,
          headers: JSON_HEADERS,
          ratePerSec,
          durationMs,
          timeoutMs: 30_000,
        } satisfies OpenLoopParams,
        durationMs + 90_000,
      );
      const log = await fake.call<FakeLog>('log');
      const ok = result.status.flatMap((status, i) => (status === 200 ? [i] : []));
      const latency = dist(ok.map((i) => result.latencyMs[i]!));
      const statuses: Record<string, number> = {};
      for (const status of result.status) statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
      const firstSent = Math.min(...result.sentAt);
      const lastAnswered = Math.max(...result.sentAt.map((t, i) => t + result.latencyMs[i]!));
      return {
        users: result.status.length,
        upstreamRequests: log.status.length,
        upstream429s: log.status.filter((s) => s === 429).length,
        successes: ok.length,
        successPerSec: ok.length / ((lastAnswered - firstSent) / 1000),
        successP50Ms: latency.p50,
        successP99Ms: latency.p99,
        statuses,
      };
    } finally {
      await server.stop();
    }
  };

  try {
    for (let round = 0; round < rounds; round++) {
      for (const variant of rotated(VARIANTS, round)) runs[variant].push(await runOnce(variant));
    }
  } finally {
    await load.stop();
    await fake.stop();
  }

  const rows = VARIANTS.map((v) => {
    const r = runs[v];
    return [
      v,
      fmtSpread(spread(r.map((x) => x.users)), 0),
      fmtSpread(spread(r.map((x) => x.upstreamRequests)), 0),
      fmtSpread(spread(r.map((x) => x.upstream429s)), 0),
      fmtSpread(spread(r.map((x) => x.successes)), 0),
      fmtSpread(spread(r.map((x) => x.successPerSec)), 2),
      fmtSpread(spread(r.map((x) => x.successP50Ms)), 0),
      fmtSpread(spread(r.map((x) => x.successP99Ms)), 0),
    ];
  });
  const raw429 = spread(runs['raw SDK (maxRetries 2)'].map((r) => r.upstream429s));
  const guard429 = spread(runs.guard.map((r) => r.upstream429s));
  const reduction = raw429.median === 0 ? Number.NaN : 1 - guard429.median / raw429.median;
  const rawOk = spread(runs['raw SDK (maxRetries 2)'].map((r) => r.successes));
  const guardOk = spread(runs.guard.map((r) => r.successes));
  const targets: TargetCheck[] = [
    {
      target: 'guard: at least 90 % fewer upstream 429s than the raw SDK',
      measured: `${fmt(guard429.median, 0)} vs ${fmt(raw429.median, 0)} (${Number.isNaN(reduction) ? 'n/a' : fmtPercent(reduction)} fewer)`,
      met: Number.isNaN(reduction) ? null : reduction >= 0.9,
    },
    {
      target: 'guard: the same or more successful requests',
      measured: `${fmt(guardOk.median, 0)} vs ${fmt(rawOk.median, 0)}`,
      met: guardOk.median >= rawOk.median,
    },
  ];

  return {
    id: 7,
    name: 'Over quota (Express, open-loop load at twice the rate limit)',
    config: {
      rounds,
      durationMs,
      ratePerSec,
      fakeBudget: { requests: requestsPerWindow, windowMs, perMinute: limitPerMinute },
      guardOptions: `defaults (rateLimits on) except deadline.defaultMs = ${deadlineMs}`,
      rawSdk: 'new Anthropic() with its default maxRetries (2), which waits out retry-after',
      upstream: `fake-anthropic in its own process; ${upstreamDelayMs} ms per answer; 429 with retry-after once the window's budget is spent`,
      loadGenerator: 'open loop (fixed arrival rate, keep-alive) in its own process; user timeout 30 s',
    },
    tables: [
      {
        title: `${ratePerSec} requests/s for ${durationMs / 1000} s against ${requestsPerWindow} requests per ${windowMs / 1000} s (${limitPerMinute}/min); ${rounds} round(s), median (min to max)`,
        columns: [
          'variant',
          'user requests',
          'upstream requests',
          'upstream 429s',
          'user successes',
          'successes/s',
          'success p50 ms',
          'success p99 ms',
        ],
        rows,
      },
    ],
    targets,
    notes: [
      'Successes/s: user successes over the time from the first request sent to the last answer received.',
      'The guard answers what cannot fit in the budget before its deadline with its own 429 (retry-after), without calling the upstream; the raw SDK sends every request and retries each upstream 429 twice.',
    ],
    figures: { runs },
    durationMs: performance.now() - startedAt,
  };
}

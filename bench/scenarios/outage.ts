// Scenario 4: an upstream outage (100 % 529 for a while, then healthy) and a flaky upstream (20 %
// random 529s), under a steady open-loop load. The raw SDK with its default retries vs the guard.
// Server, fake and load generator are separate processes; the fake's log and the load generator's
// records share the wall clock.
import type { FakeLog, FakeReady } from '../procs/fake.js';
import type { OpenLoopParams, OpenLoopResult } from '../procs/load.js';
import type { ServerReady } from '../procs/server.js';
import { JSON_HEADERS } from '../lib/fixtures.js';
import { forkChild, sleep, wallNow, type BenchChild } from '../lib/ipc.js';
import { rotated, sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult, TargetCheck } from '../lib/report.js';
import { dist, fmt, fmtPercent, fmtSpread, fmtSpreadPercent, spread } from '../lib/stats.js';

const VARIANTS = ['raw SDK (maxRetries 2)', 'guard'] as const;
type Variant = (typeof VARIANTS)[number];
const PATH: Record<Variant, string> = { 'raw SDK (maxRetries 2)': '/bare/chat', guard: '/guard/chat' };

interface WindowFigures {
  users: number;
  attempts: number;
  amplification: number;
  successRate: number;
  p50Ms: number;
  p99Ms: number;
}

interface OutageRun {
  healthy: WindowFigures;
  outage: WindowFigures;
  recovery: WindowFigures;
  /** From the upstream's recovery to the send time of the last user request that still failed (0: none failed). */
  recoveryMs: number;
}

const TRACED_BODY = JSON.stringify({ message: 'bench #{i}' });

/** Figures for the user requests sent in [from, to); each upstream attempt is traced to its user request. */
function windowFigures(load: OpenLoopResult, log: FakeLog, from: number, to: number): WindowFigures {
  const index = load.sentAt.flatMap((t, i) => (t >= from && t < to ? [i] : []));
  const attemptsOf = new Map<number, number>();
  for (const user of log.userIndex) if (user !== null) attemptsOf.set(user, (attemptsOf.get(user) ?? 0) + 1);
  const attempts = index.reduce((n, i) => n + (attemptsOf.get(i) ?? 0), 0);
  const ok = index.filter((i) => load.status[i] === 200).length;
  const latency = dist(index.map((i) => load.latencyMs[i]!));
  return {
    users: index.length,
    attempts,
    amplification: attempts / Math.max(1, index.length),
    successRate: ok / Math.max(1, index.length),
    p50Ms: latency.p50,
    p99Ms: latency.p99,
  };
}

export async function runOutage(profile: Profile): Promise<ScenarioResult> {
  const startedAt = performance.now();
  const rounds = sized(profile, { full: 2, quick: 1 });
  const ratePerSec = 50;
  const warmupMs = sized(profile, { full: 2_000, quick: 500 });
  // Healthy long enough to fill the breaker's 10 s rolling window, as in steady traffic.
  const healthyMs = sized(profile, { full: 10_000, quick: 500 });
  const outageMs = sized(profile, { full: 10_000, quick: 1_500 });
  const recoveryPhaseMs = sized(profile, { full: 6_000, quick: 1_500 });
  const randomMs = sized(profile, { full: 10_000, quick: 2_000 });
  const resetTimeout = sized(profile, { full: 3_000, quick: 1_000 });
  const upstreamDelayMs = 2;

  const fake = await forkChild<FakeReady>(new URL('../procs/fake.ts', import.meta.url), {
    firstEventDelayMs: upstreamDelayMs,
  });
  const load = await forkChild<unknown>(new URL('../procs/load.ts', import.meta.url), {});
  const outageRuns: Record<Variant, OutageRun[]> = { 'raw SDK (maxRetries 2)': [], guard: [] };
  const randomRuns: Record<Variant, WindowFigures[]> = { 'raw SDK (maxRetries 2)': [], guard: [] };

  const openLoop = (server: BenchChild<ServerReady>, variant: Variant, durationMs: number) =>
    load.call<OpenLoopResult>(
      'openLoop',
      {
        url: `${server.ready.express}${PATH[variant]}`,
        body: TRACED_BODY,
        headers: JSON_HEADERS,
        ratePerSec,
        durationMs,
        timeoutMs: 30_000,
      } satisfies OpenLoopParams,
      durationMs + 60_000,
    );

  const withServer = async <T>(variant: Variant, fn: (server: BenchChild<ServerReady>) => Promise<T>): Promise<T> => {
    // A fresh server per run: no breaker state or retry budget carried over; warmed up on a healthy upstream.
    const server = await forkChild<ServerReady>(new URL('../procs/server.ts', import.meta.url), {
      upstream: fake.ready.url,
      guard: { breaker: { resetTimeout } },
    });
    try {
      await openLoop(server, variant, warmupMs);
      await fake.call('reset');
      return await fn(server);
    } finally {
      await server.stop();
    }
  };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const variant of rotated(VARIANTS, round)) {
        outageRuns[variant].push(
          await withServer(variant, async (server) => {
            const start = wallNow();
            const running = openLoop(server, variant, healthyMs + outageMs + recoveryPhaseMs);
            await sleep(healthyMs);
            const outageAt = await fake.call<number>('setDefault', { faultRate: 1, fault: 529 });
            await sleep(outageMs);
            const recoveredAt = await fake.call<number>('setDefault', { faultRate: 0 });
            const result = await running;
            const log = await fake.call<FakeLog>('log');
            const failedAfter = result.sentAt.filter((t, i) => t >= recoveredAt && result.status[i] !== 200);
            return {
              healthy: windowFigures(result, log, start, outageAt),
              outage: windowFigures(result, log, outageAt, recoveredAt),
              recovery: windowFigures(result, log, recoveredAt, Number.POSITIVE_INFINITY),
              recoveryMs: failedAfter.length === 0 ? 0 : Math.max(...failedAfter) - recoveredAt,
            };
          }),
        );
        randomRuns[variant].push(
          await withServer(variant, async (server) => {
            const from = await fake.call<number>('setDefault', { faultRate: 0.2, fault: 529, seed: 7 });
            const result = await openLoop(server, variant, randomMs);
            await fake.call('setDefault', { faultRate: 0 });
            const log = await fake.call<FakeLog>('log');
            return windowFigures(result, log, from, Number.POSITIVE_INFINITY);
          }),
        );
      }
    }
  } finally {
    await load.stop();
    await fake.stop();
  }

  const outageRows = VARIANTS.map((v) => {
    const runs = outageRuns[v];
    return [
      v,
      fmtSpread(spread(runs.map((r) => r.outage.amplification))),
      fmtSpreadPercent(spread(runs.map((r) => r.outage.successRate))),
      fmtSpread(spread(runs.map((r) => r.outage.p99Ms)), 0),
      fmtSpread(spread(runs.map((r) => r.recoveryMs)), 0),
      fmtSpreadPercent(spread(runs.map((r) => r.recovery.successRate))),
      fmtSpread(spread(runs.map((r) => r.healthy.p99Ms)), 1),
    ];
  });
  const randomRows = VARIANTS.map((v) => {
    const runs = randomRuns[v];
    return [
      v,
      fmtSpread(spread(runs.map((r) => r.amplification))),
      fmtSpreadPercent(spread(runs.map((r) => r.successRate)), 2),
      fmtSpread(spread(runs.map((r) => r.p50Ms)), 1),
      fmtSpread(spread(runs.map((r) => r.p99Ms)), 0),
    ];
  });

  const guardOutage = outageRuns.guard;
  const amplification = spread(guardOutage.map((r) => r.outage.amplification));
  const success = spread(randomRuns.guard.map((r) => r.successRate));
  const recovery = spread(guardOutage.map((r) => r.recoveryMs));
  const trialMs = 1000 / ratePerSec + Math.max(...guardOutage.map((r) => r.healthy.p99Ms));
  const targets: TargetCheck[] = [
    {
      target: 'guard: amplification <= 1.25 during the full outage',
      measured: fmt(amplification.max),
      met: amplification.max <= 1.25,
    },
    {
      target: 'guard: >= 99 % success at 20 % random 529s',
      measured: fmtPercent(success.min, 2),
      met: success.min >= 0.99,
    },
    {
      target: `guard: full success within resetTimeout (${resetTimeout} ms) + one trial (~${fmt(trialMs, 0)} ms: one request interval + healthy p99)`,
      measured: `${fmt(recovery.max, 0)} ms`,
      met: recovery.max <= resetTimeout + trialMs,
    },
  ];

  return {
    id: 4,
    name: 'Outage behaviour (Express, open-loop load)',
    config: {
      rounds,
      ratePerSec,
      phasesMs: { warmup: warmupMs, healthy: healthyMs, outage: outageMs, recovery: recoveryPhaseMs, random: randomMs },
      guardOptions: `defaults except breaker.resetTimeout = ${resetTimeout} ms (default 30 000)`,
      rawSdk: 'new Anthropic() with its default maxRetries (2) and backoff',
      upstream: `fake-anthropic in its own process; ${upstreamDelayMs} ms per healthy answer, 529 at once`,
      loadGenerator: 'open loop (fixed arrival rate, keep-alive) in its own process; user timeout 30 s',
    },
    tables: [
      {
        title: `Full outage (100 % 529 for ${outageMs / 1000} s), then recovery; ${rounds} round(s), median (min to max)`,
        columns: [
          'variant',
          'upstream attempts per user request (outage)',
          'user success (outage)',
          'user p99 ms (outage)',
          'last failure after recovery, ms',
          'user success (recovery phase)',
          'user p99 ms (healthy)',
        ],
        rows: outageRows,
      },
      {
        title: `20 % random 529s for ${randomMs / 1000} s; ${rounds} round(s), median (min to max)`,
        columns: ['variant', 'upstream attempts per user request', 'user success', 'user p50 ms', 'user p99 ms'],
        rows: randomRows,
      },
    ],
    targets,
    notes: [
      "Attempts per user request: every upstream request is traced to the user request behind it (its body carries the user request's number), for the user requests sent in the window; retries that land after the window still count.",
      "'Last failure after recovery': the send time of the last user request that failed, counted from the moment the upstream recovered; 0 when none failed.",
    ],
    figures: { outageRuns, randomRuns },
    durationMs: performance.now() - startedAt,
  };
}

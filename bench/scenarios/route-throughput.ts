// Scenario 2: the same chat route with and without the guard, Express and Hono, over loopback to
// fake-anthropic (2 ms before its headers). Server, fake and load generator are three processes.
import type { CannonParams, CannonResult } from '../procs/load.js';
import type { ChatVariant } from '../procs/server.js';
import { CHAT_BODY, JSON_HEADERS } from '../lib/fixtures.js';
import type { BenchChild } from '../lib/ipc.js';
import { rotated, sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult, Table, TargetCheck } from '../lib/report.js';
import { forkThroughputStack } from '../lib/throughput-stack.js';
import { fmt, fmtSpread, fmtSpreadPercent, spread } from '../lib/stats.js';

const FRAMEWORKS = ['express', 'hono'] as const;
const VARIANTS = ['unguarded', 'guarded'] as const;
type Framework = (typeof FRAMEWORKS)[number];
type Variant = (typeof VARIANTS)[number];
type Mode = 'saturated' | 'fixed';

const PATH: Record<Variant, string> = { unguarded: '/bare/chat', guarded: '/guard/chat' };
/** Each variant is served by a process of its own (see `ServerConfig.only`). */
const SERVES: Record<Variant, ChatVariant> = { unguarded: 'bare', guarded: 'guard' };

export async function runRouteThroughput(profile: Profile): Promise<ScenarioResult> {
  const startedAt = performance.now();
  const rounds = sized(profile, { full: 6, quick: 1 });
  const saturatedSec = sized(profile, { full: 3, quick: 1 });
  const fixedSec = sized(profile, { full: 3, quick: 1 });
  const warmupSec = sized(profile, { full: 2, quick: 0.5 });
  const saturatedConnections = 16;
  const fixedRate = 50;
  const fixedConnections = 4;
  const upstreamDelayMs = 2;

  const children: BenchChild<unknown>[] = [];
  try {
    const { fake, servers, load } = await forkThroughputStack(SERVES, upstreamDelayMs, children);

    const cannon = async (framework: Framework, variant: Variant, mode: Mode | 'warmup'): Promise<CannonResult> => {
      const params: CannonParams = {
        url: `${servers[variant].ready[framework]}${PATH[variant]}`,
        body: CHAT_BODY,
        headers: JSON_HEADERS,
        connections: mode === 'fixed' ? fixedConnections : saturatedConnections,
        durationSec: mode === 'warmup' ? warmupSec : mode === 'fixed' ? fixedSec : saturatedSec,
        ...(mode === 'fixed' && { overallRate: fixedRate }),
      };
      const result = await load.call<CannonResult>('cannon', params);
      await fake.call('reset'); // keeps the fake's request log small
      return result;
    };

    for (const framework of FRAMEWORKS) for (const variant of VARIANTS) await cannon(framework, variant, 'warmup');

    const runs: Record<string, CannonResult[]> = {};
    const key = (f: Framework, v: Variant, m: Mode) => `${f}/${v}/${m}`;
    for (let round = 0; round < rounds; round++) {
      for (const framework of FRAMEWORKS) {
        for (const mode of ['saturated', 'fixed'] as const) {
          for (const variant of rotated(VARIANTS, round)) {
            (runs[key(framework, variant, mode)] ??= []).push(await cannon(framework, variant, mode));
          }
        }
      }
    }

    const tables: Table[] = [];
    const targets: TargetCheck[] = [];
    const summary: Record<string, unknown> = {};
    for (const framework of FRAMEWORKS) {
      const get = (v: Variant, m: Mode) => runs[key(framework, v, m)]!;
      const errors = (v: Variant) =>
        [...get(v, 'saturated'), ...get(v, 'fixed')].reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);
      const rpsRatio = spread(get('guarded', 'saturated').map((r, i) => r.rps / get('unguarded', 'saturated')[i]!.rps));
      const p99Delta = (m: Mode) =>
        spread(get('guarded', m).map((r, i) => r.latency.p99 - get('unguarded', m)[i]!.latency.p99));
      const p50Delta = (m: Mode) =>
        spread(get('guarded', m).map((r, i) => r.latency.p50 - get('unguarded', m)[i]!.latency.p50));
      const rows = VARIANTS.map((v) => [
        v,
        fmtSpread(spread(get(v, 'saturated').map((r) => r.rps)), 0),
        fmtSpread(spread(get(v, 'saturated').map((r) => r.latency.p50)), 2),
        fmtSpread(spread(get(v, 'saturated').map((r) => r.latency.p99)), 2),
        fmtSpread(spread(get(v, 'fixed').map((r) => r.latency.p50)), 2),
        fmtSpread(spread(get(v, 'fixed').map((r) => r.latency.p99)), 2),
        String(errors(v)),
      ]);
      rows.push([
        'guarded vs unguarded',
        fmtSpreadPercent(rpsRatio),
        `${fmtSpread(p50Delta('saturated'), 2)} ms`,
        `${fmtSpread(p99Delta('saturated'), 2)} ms`,
        `${fmtSpread(p50Delta('fixed'), 2)} ms`,
        `${fmtSpread(p99Delta('fixed'), 2)} ms`,
        '',
      ]);
      tables.push({
        title: `${framework === 'express' ? 'Express 5' : 'Hono 4 (@hono/node-server)'}: ${rounds} rounds, variants interleaved; median (min to max) over rounds`,
        columns: [
          'variant',
          `req/s (${saturatedConnections} conns)`,
          'p50 ms',
          'p99 ms',
          `p50 ms at ${fixedRate} req/s`,
          `p99 ms at ${fixedRate} req/s`,
          'non-2xx/errors',
        ],
        rows,
      });
      targets.push(
        {
          target: `${framework}: guarded req/s >= 97 % of unguarded`,
          measured: fmtSpreadPercent(rpsRatio),
          met: rpsRatio.median >= 0.97,
        },
        {
          target: `${framework}: p99 within +1 ms at ${fixedRate} req/s`,
          measured: `${fmt(p99Delta('fixed').median, 2)} ms`,
          met: p99Delta('fixed').median <= 1,
        },
        {
          target: `${framework}: p99 within +1 ms at saturation`,
          measured: `${fmt(p99Delta('saturated').median, 2)} ms`,
          met: p99Delta('saturated').median <= 1,
        },
      );
      summary[framework] = {
        rpsRatio,
        p99DeltaSaturatedMs: p99Delta('saturated'),
        p99DeltaFixedMs: p99Delta('fixed'),
        p50DeltaSaturatedMs: p50Delta('saturated'),
        p50DeltaFixedMs: p50Delta('fixed'),
      };
    }

    return {
      id: 2,
      name: 'Route throughput and latency (Express, Hono; fake upstream over loopback)',
      config: {
        rounds,
        saturatedSec,
        saturatedConnections,
        fixedSec,
        fixedRate,
        fixedConnections,
        upstream: `fake-anthropic in its own process, every response delayed ${upstreamDelayMs} ms before headers`,
        routes:
          'POST /bare/chat (SDK, maxRetries 0) vs POST /guard/chat (claudeGuard + claude.messages.create), guard defaults',
        loadGenerator: 'autocannon 8 in its own process; latencies from its per-response timings (sub-ms)',
      },
      tables,
      targets,
      notes: [
        'Ratios and deltas are paired per round (guarded run next to its unguarded run) before taking the median.',
        'Three busy processes (server, fake, load generator) share 2 cores, so the absolute req/s is a floor, not a capacity figure.',
        'Each variant has a server process of its own (both frameworks in it), as a real app runs one of them: in one shared process the SDK sees several call shapes and the variants share a heap, which slows all of them. Only one server is under load at a time.',
        "fake-anthropic sends its rate-limit headers with a budget no run reaches (a billion a minute), which the guard reads as it would the real API's; its default informational budget (4 000 requests a minute) would run out within a round and the guard would then hold requests until the reset.",
      ],
      figures: { runs, summary },
      durationMs: performance.now() - startedAt,
    };
  } finally {
    for (const child of children.reverse()) await child.stop();
  }
}

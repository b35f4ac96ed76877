// Scenario 8: what telemetry costs, measured as scenarios 1 and 2 are, with telemetry on next to off in
// the same run (issue 13). "On" is spans (createOtelInstrumentation on the real OpenTelemetry SDK: a
// tracer provider with a batch processor) and metrics (createOtelMetrics on a real meter provider, and
// createPrometheusMetrics), every exporter a no-op: the cost of recording, not of the network.
import { createClaudeGuard, type HeaderReader } from '@claude-guard/core';
import type { CannonParams, CannonResult } from '../procs/load.js';
import type { ChatVariant } from '../procs/server.js';
import { CHAT_BODY, chatParams, inProcessClient, JSON_HEADERS } from '../lib/fixtures.js';
import type { BenchChild } from '../lib/ipc.js';
import { gc, rotated, sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult, Table, TargetCheck } from '../lib/report.js';
import { forkThroughputStack } from '../lib/throughput-stack.js';
import { fmt, fmtSpread, fmtSpreadPercent, spread } from '../lib/stats.js';
import { benchTelemetry } from '../lib/telemetry.js';

const NO_HEADERS: HeaderReader = { get: () => null };

const FRAMEWORKS = ['express', 'hono'] as const;
const ROUTES = ['unguarded', 'guarded', 'guarded + telemetry'] as const;
type Framework = (typeof FRAMEWORKS)[number];
type RouteVariant = (typeof ROUTES)[number];
const PATH: Record<RouteVariant, string> = {
  unguarded: '/bare/chat',
  guarded: '/guard/chat',
  'guarded + telemetry': '/observed/chat',
};
/** Each variant is served by a process of its own (see `ServerConfig.only`). */
const SERVES: Record<RouteVariant, ChatVariant> = {
  unguarded: 'bare',
  guarded: 'guard',
  'guarded + telemetry': 'observed',
};

/** Sequential awaited calls; ns per call, wall. */
async function perCall(once: () => Promise<unknown>, calls: number): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await once();
  return Number(process.hrtime.bigint() - started) / calls;
}

/** Part 1, as scenario 1: route.begin + claude.messages.create in-process, telemetry off and on. */
async function perCallCost(profile: Profile) {
  const rounds = sized(profile, { full: 12, quick: 3, smoke: 2 });
  const chunk = sized(profile, { full: 100, quick: 50, smoke: 10 });
  const cycles = sized(profile, { full: 10, quick: 8, smoke: 2 });
  const warmupCalls = sized(profile, { full: 5_000, quick: 2_000, smoke: 50 });
  const client = inProcessClient();
  const params = chatParams('hello bench');
  const telemetry = benchTelemetry();
  const offGuard = createClaudeGuard({ client });
  const off = offGuard.route({ route: 'bench-off' });
  const onGuard = createClaudeGuard({ client, instrumentation: telemetry.instrumentation });
  telemetry.observe(onGuard);
  const on = onGuard.route({ route: 'bench-on' });
  const guarded = (route: typeof off) => async () => {
    const begun = route.begin({ headers: NO_HEADERS });
    if (!begun.ok) throw begun.error;
    await begun.call.claude.messages.create(params);
    begun.call.end(200);
  };
  const variants = [
    { name: 'bare call', once: () => client.messages.create(params) },
    { name: 'guarded, telemetry off', once: guarded(off) },
    { name: 'guarded, telemetry on', once: guarded(on) },
  ];
  try {
    for (const variant of variants) await perCall(variant.once, warmupCalls);
    const perRound = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (let round = 0; round < rounds; round++) {
      const totals = new Map(variants.map((v) => [v.name, 0]));
      gc();
      for (let cycle = 0; cycle < cycles; cycle++) {
        for (const variant of rotated(variants, cycle + round)) {
          totals.set(variant.name, totals.get(variant.name)! + (await perCall(variant.once, chunk)));
        }
      }
      for (const [name, total] of totals) perRound.get(name)!.push(total / cycles);
    }
    // The metrics counted every call: what was measured is what a scrape would show.
    const scraped = await telemetry.scrape();
    const counted = /claude_guard_requests_total\{route="bench-on"[^}]*\} (\d+)/.exec(scraped)?.[1];
    const get = (name: string) => perRound.get(name)!;
    const bare = get('bare call');
    const addedBy = (name: string) => spread(get(name).map((ns, i) => (ns - bare[i]!) / 1000));
    const telemetryAdds = spread(
      get('guarded, telemetry on').map((ns, i) => (ns - get('guarded, telemetry off')[i]!) / 1000),
    );
    const usSpread = (name: string) => spread(get(name).map((ns) => ns / 1000));
    const table: Table = {
      title: `Per call, in-process upstream (route.begin + claude.messages.create, as scenario 1): ${rounds} rounds; each round ${cycles} x ${chunk} sequential calls per variant, variants alternating; median (min to max) over rounds`,
      columns: ['variant', 'us/call', 'added over bare, us'],
      rows: variants.map((v) => [
        v.name,
        fmtSpread(usSpread(v.name), 1),
        v.name === 'bare call' ? '-' : fmtSpread(addedBy(v.name), 1),
      ]),
    };
    table.rows.push(['telemetry on - off', '', `${fmtSpread(telemetryAdds, 1)}`]);
    return {
      table,
      telemetryAddsUs: telemetryAdds,
      perRound: Object.fromEntries(perRound),
      counted: Number(counted ?? 0),
    };
  } finally {
    offGuard.close();
    onGuard.close();
    await telemetry.close();
  }
}

/** Part 2, as scenario 2: the chat route unguarded, guarded, and guarded with telemetry, per framework. */
async function routeThroughput(profile: Profile) {
  const rounds = sized(profile, { full: 6, quick: 2, smoke: 1 });
  const saturatedSec = sized(profile, { full: 3, quick: 1, smoke: 0.5 });
  const warmupSec = sized(profile, { full: 2, quick: 0.5, smoke: 0.2 });
  const connections = 16;
  const children: BenchChild<unknown>[] = [];
  try {
    const { fake, servers, load } = await forkThroughputStack(SERVES, 2, children);
    const cannon = async (framework: Framework, variant: RouteVariant, durationSec: number) => {
      const params: CannonParams = {
        url: `${servers[variant].ready[framework]}${PATH[variant]}`,
        body: CHAT_BODY,
        headers: JSON_HEADERS,
        connections,
        durationSec,
      };
      const result = await load.call<CannonResult>('cannon', params);
      await fake.call('reset');
      return result;
    };
    for (const framework of FRAMEWORKS) for (const variant of ROUTES) await cannon(framework, variant, warmupSec);
    const runs = new Map<string, CannonResult[]>();
    for (let round = 0; round < rounds; round++) {
      for (const framework of FRAMEWORKS) {
        for (const variant of rotated(ROUTES, round)) {
          const key = `${framework}/${variant}`;
          runs.set(key, [...(runs.get(key) ?? []), await cannon(framework, variant, saturatedSec)]);
        }
      }
    }
    const scraped = await servers['guarded + telemetry'].call<string>('scrape');
    const tables: Table[] = [];
    const targets: TargetCheck[] = [];
    const summary: Record<string, unknown> = {};
    for (const framework of FRAMEWORKS) {
      const get = (v: RouteVariant) => runs.get(`${framework}/${v}`)!;
      const ratio = (a: RouteVariant, b: RouteVariant) => spread(get(a).map((r, i) => r.rps / get(b)[i]!.rps));
      const vsUnguarded = ratio('guarded + telemetry', 'unguarded');
      const vsGuarded = ratio('guarded + telemetry', 'guarded');
      const guardedVsUnguarded = ratio('guarded', 'unguarded');
      const errors = (v: RouteVariant) => get(v).reduce((n, r) => n + r.non2xx + r.errors + r.timeouts, 0);
      tables.push({
        title: `${framework === 'express' ? 'Express 5' : 'Hono 4 (@hono/node-server)'}: ${rounds} rounds of ${saturatedSec} s at ${connections} connections, variants interleaved; median (min to max) over rounds`,
        columns: ['variant', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx/errors'],
        rows: [
          ...ROUTES.map((v) => [
            v,
            fmtSpread(spread(get(v).map((r) => r.rps)), 0),
            fmtSpread(spread(get(v).map((r) => r.latency.p50)), 2),
            fmtSpread(spread(get(v).map((r) => r.latency.p99)), 2),
            String(errors(v)),
          ]),
          ['guarded vs unguarded', fmtSpreadPercent(guardedVsUnguarded), '', '', ''],
          ['guarded + telemetry vs guarded', fmtSpreadPercent(vsGuarded), '', '', ''],
          ['guarded + telemetry vs unguarded', fmtSpreadPercent(vsUnguarded), '', '', ''],
        ],
      });
      targets.push({
        target: `${framework}: guarded route with telemetry on >= 95 % of the unguarded req/s`,
        measured: `${fmt(vsUnguarded.median * 100, 1)} % (telemetry's own share: ${fmt(vsGuarded.median * 100, 1)} % of the guarded route)`,
        met: vsUnguarded.median >= 0.95,
      });
      summary[framework] = { vsUnguarded, vsGuarded, guardedVsUnguarded };
    }
    const counted = [...scraped.matchAll(/claude_guard_requests_total\{route="(?:express|hono)-chat"[^}]*\} (\d+)/g)]
      .map((m) => Number(m[1]))
      .reduce((a, b) => a + b, 0);
    return { tables, targets, summary, counted, runs: Object.fromEntries(runs) };
  } finally {
    for (const child of children.reverse()) await child.stop();
  }
}

export async function runTelemetryCost(profile: Profile): Promise<ScenarioResult> {
  const startedAt = performance.now();
  const perCallPart = await perCallCost(profile);
  const routePart = await routeThroughput(profile);
  return {
    id: 8,
    name: 'Telemetry cost: scenarios 1 and 2 with telemetry on and off',
    config: {
      telemetry:
        'createOtelInstrumentation (BasicTracerProvider, BatchSpanProcessor, no-op exporter) + createOtelMetrics (MeterProvider, PeriodicExportingMetricReader 60 s, no-op exporter) + createPrometheusMetrics; AsyncLocalStorage context manager; providers passed to the telemetry, not registered globally',
      upstreamDelayMs: 2,
    },
    tables: [perCallPart.table, ...routePart.tables],
    targets: routePart.targets,
    notes: [
      `The guard with telemetry on counted what it served: ${perCallPart.counted} requests in-process and ${routePart.counted} over HTTP in its Prometheus metrics.`,
      'Ratios are paired per round (each variant next to the others of the same round) before taking the median.',
      "The providers are given to the guard's telemetry, not registered globally, so the Anthropic SDK makes no spans of its own in either variant: its spans are the SDK's cost, not the guard's.",
      'Three busy processes (server, fake, load generator) share 2 cores with other work: absolute req/s is a floor, not a capacity figure.',
      'Each variant has a server process of its own (both frameworks in it), as a real app runs one of them: in one shared process the SDK sees several call shapes and the variants share a heap, which slows all of them. Only one server is under load at a time.',
      "fake-anthropic sends its rate-limit headers with a budget no run reaches (a billion a minute), which the guard reads as it would the real API's; its default informational budget (4 000 requests a minute) would run out within a round and the guard would then hold requests until the reset.",
    ],
    figures: { perCall: perCallPart, routes: routePart.summary, runs: routePart.runs },
    durationMs: performance.now() - startedAt,
  };
}

// Scenario 1: what the guard adds to one call on the happy path, in-process (the SDK's `fetch`
// answers at once), against opossum's `fire` and a cockatiel retry + breaker + timeout stack, and
// against the core as it was before the redesign of issue 11 (built from git, same process).
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, type HeaderReader } from '@claude-guard/core';
import {
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  retry,
  timeout,
  TimeoutStrategy,
  wrap,
} from 'cockatiel';
import CircuitBreaker from 'opossum';
import { chatParams, MODEL } from '../lib/fixtures.js';
import { BASELINE_COMMIT, buildBaselineCore, type BaselineCore } from '../lib/baseline.js';
import { gc, rotated, sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult } from '../lib/report.js';
import { fmt, fmtSpread, spread, type Spread } from '../lib/stats.js';

const MESSAGE = {
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model: MODEL,
  content: [{ type: 'text', text: 'Hello from the bench' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 11, output_tokens: 6 },
};

const NO_HEADERS: HeaderReader = { get: () => null };

type Clock = 'cpu' | 'wall';

interface CostSummary {
  nsPerOp: Spread;
  addedNs: Spread;
  addedVsOpossum: number;
  addedVsCockatiel: number;
}

const BARE = 'bare call';
const OPOSSUM = 'opossum fire';
const COCKATIEL = 'cockatiel wrap(retry, breaker, timeout)';
const GUARD_RUN = 'guard.run';
const ROUTE_CREATE = 'route.begin + claude.messages.create';
/** The same variant on the pre-redesign core. */
const before = (name: string): string => `${name} (before)`;

/** The issue's CPU targets for the guard around the SDK call (issue 11): its added CPU time against each library's. */
const CPU_TARGET_VS_OPOSSUM = 5;
const CPU_TARGET_VS_COCKATIEL = 0.25;

/** What the core module gives the scenario; the current and the baseline core both have it. */
interface CoreModule {
  createClaudeGuard: typeof createClaudeGuard;
}

interface Variant {
  name: string;
  once: () => Promise<unknown>;
}

interface Upstream {
  key: 'sdk' | 'noop';
  title: string;
  variants: Variant[];
  /** Calls per variant in a row before switching to the next variant. */
  chunk: number;
  /** Chunks per variant in a round; variants rotate after every chunk. */
  cycles: number;
}

type Costs = { wall: number[]; cpu: number[] };

/** Sequential awaited calls; returns the totals in ns (wall, and process CPU time). */
async function chunkCost(once: () => Promise<unknown>, calls: number): Promise<{ wall: number; cpu: number }> {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await once();
  const wall = Number(process.hrtime.bigint() - started);
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) * 1000 };
}

/**
 * One round: `cycles` times, every variant runs `chunk` calls, in an order rotated each cycle. Fine
 * interleaving keeps the variants under the same machine conditions; returns ns per call.
 */
async function measureRound(upstream: Upstream, round: number): Promise<Map<string, { wall: number; cpu: number }>> {
  const totals = new Map(upstream.variants.map((v) => [v.name, { wall: 0, cpu: 0 }]));
  gc();
  for (let cycle = 0; cycle < upstream.cycles; cycle++) {
    for (const variant of rotated(upstream.variants, cycle + round)) {
      const cost = await chunkCost(variant.once, upstream.chunk);
      const total = totals.get(variant.name)!;
      total.wall += cost.wall;
      total.cpu += cost.cpu;
    }
  }
  const calls = upstream.chunk * upstream.cycles;
  return new Map([...totals].map(([name, t]) => [name, { wall: t.wall / calls, cpu: t.cpu / calls }]));
}

function summarize(variants: Variant[], perRound: Map<string, Costs>, clock: Clock): Record<string, CostSummary> {
  const nsPerOp = (name: string) => perRound.get(name)![clock];
  const bare = nsPerOp(BARE);
  const added = (name: string) => spread(nsPerOp(name).map((ns, i) => ns - bare[i]!));
  const opossum = added(OPOSSUM).median;
  const cockatiel = added(COCKATIEL).median;
  return Object.fromEntries(
    variants.map((v) => {
      const own = added(v.name);
      return [
        v.name,
        {
          nsPerOp: spread(nsPerOp(v.name)),
          addedNs: own,
          addedVsOpossum: own.median / opossum,
          addedVsCockatiel: own.median / cockatiel,
        },
      ];
    }),
  );
}

/**
 * A ratio target's verdict: `null` (not measured) when the reference's added cost is not above zero,
 * i.e. below this run's noise, where any ratio to it is meaningless.
 */
const within = (ratio: number, reference: number, limit: number): boolean | null =>
  reference > 0 ? ratio <= limit : null;

const us = (s: Spread) => fmtSpread({ ...s, median: s.median / 1000, min: s.min / 1000, max: s.max / 1000 }, 1);

export async function runOverhead(profile: Profile): Promise<ScenarioResult> {
  const startedAt = performance.now();
  const rounds = sized(profile, { full: 12, quick: 3, smoke: 2 });
  const warmupCalls = sized(profile, { full: 5_000, quick: 2_000, smoke: 50 });

  const client = new Anthropic({
    apiKey: 'x',
    maxRetries: 0,
    fetch: () =>
      Promise.resolve(
        new Response(JSON.stringify(MESSAGE), {
          headers: { 'content-type': 'application/json', 'request-id': 'req_1' },
        }),
      ),
  });
  const params = chatParams('hello bench');
  const noop = () => Promise.resolve(MESSAGE);
  type Guard = ReturnType<typeof createClaudeGuard>;
  type Route = ReturnType<Guard['route']>;
  const sdkRun = (g: Guard) =>
    g.run('bench', ({ signal, timeout }) => client.messages.create(params, { signal, timeout, maxRetries: 0 }));
  const routeCreate = async (r: Route) => {
    const begun = r.begin({ headers: NO_HEADERS });
    if (!begun.ok) throw begun.error;
    await begun.call.claude.messages.create(params);
    begun.call.end(200);
  };

  // Library defaults, as a user would write them.
  const sdkBreaker = new CircuitBreaker((p: Anthropic.MessageCreateParamsNonStreaming) => client.messages.create(p));
  const noopBreaker = new CircuitBreaker(noop);
  const policy = () =>
    wrap(
      retry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
      circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) }),
      timeout(60_000, TimeoutStrategy.Aggressive),
    );
  const sdkPolicy = policy();
  const noopPolicy = policy();
  const guard = createClaudeGuard({ client });
  const route = guard.route({ route: 'bench-begin' });

  // The pre-redesign core, when git history has its commit (a shallow clone does not): same options, same client.
  let baseline: BaselineCore | undefined;
  let baselineSkipped: string | undefined;
  try {
    baseline = await buildBaselineCore();
  } catch (error) {
    baselineSkipped = `the core before the redesign (${BASELINE_COMMIT}) could not be built from git history (${firstLine(error)}); a shallow clone lacks it: \`git fetch --unshallow\` and run again`;
    process.stdout.write(`Scenario 1: skipping the "(before)" variants: ${baselineSkipped}\n\n`);
  }
  const oldCore = baseline ? ((await import(baseline.url)) as CoreModule) : undefined;
  const oldGuard = oldCore?.createClaudeGuard({ client });
  const oldRoute = oldGuard?.route({ route: 'bench-begin' });

  const upstreams: Upstream[] = [
    {
      key: 'sdk',
      title: 'Around the SDK call (client.messages.create, fetch answered in-process)',
      chunk: sized(profile, { full: 100, quick: 50, smoke: 10 }),
      cycles: sized(profile, { full: 10, quick: 8, smoke: 2 }),
      variants: [
        { name: BARE, once: () => client.messages.create(params) },
        { name: OPOSSUM, once: () => sdkBreaker.fire(params) },
        { name: COCKATIEL, once: () => sdkPolicy.execute(({ signal }) => client.messages.create(params, { signal })) },
        { name: GUARD_RUN, once: () => sdkRun(guard) },
        { name: ROUTE_CREATE, once: () => routeCreate(route) },
        ...(oldGuard && oldRoute
          ? [
              { name: before(GUARD_RUN), once: () => sdkRun(oldGuard) },
              { name: before(ROUTE_CREATE), once: () => routeCreate(oldRoute) },
            ]
          : []),
      ],
    },
    {
      key: 'noop',
      title: "Around a no-op async function (the wrappers' own cost)",
      chunk: sized(profile, { full: 1_000, quick: 500, smoke: 50 }),
      cycles: sized(profile, { full: 10, quick: 8, smoke: 2 }),
      variants: [
        { name: BARE, once: noop },
        { name: OPOSSUM, once: () => noopBreaker.fire() },
        { name: COCKATIEL, once: () => noopPolicy.execute(noop) },
        { name: GUARD_RUN, once: () => guard.run('bench-noop', noop) },
        ...(oldGuard ? [{ name: before(GUARD_RUN), once: () => oldGuard.run('bench-noop', noop) }] : []),
      ],
    },
  ];

  try {
    const perUpstream: Record<string, Map<string, Costs>> = {};
    for (const upstream of upstreams) {
      for (const variant of upstream.variants) await chunkCost(variant.once, warmupCalls);
      const perRound = new Map<string, Costs>(upstream.variants.map((v) => [v.name, { wall: [], cpu: [] }]));
      for (let round = 0; round < rounds; round++) {
        for (const [name, cost] of await measureRound(upstream, round)) {
          perRound.get(name)!.wall.push(cost.wall);
          perRound.get(name)!.cpu.push(cost.cpu);
        }
      }
      perUpstream[upstream.key] = perRound;
    }

    const summary = Object.fromEntries(
      upstreams.map((u) => [
        u.key,
        {
          cpu: summarize(u.variants, perUpstream[u.key]!, 'cpu'),
          wall: summarize(u.variants, perUpstream[u.key]!, 'wall'),
        },
      ]),
    ) as Record<Upstream['key'], Record<Clock, Record<string, CostSummary>>>;

    const tables = upstreams.map((u) => ({
      title: `${u.title}: ${rounds} rounds; each round ${u.cycles} x ${u.chunk} sequential awaited calls per variant, variants alternating; median (min to max) over rounds`,
      columns: [
        'variant',
        'us/call',
        'added over bare, us',
        'added / opossum added',
        'added / cockatiel added',
        'CPU us/call',
        'CPU added, us',
        'CPU added / opossum',
        'CPU added / cockatiel',
      ],
      rows: u.variants.map((v) => {
        const wall = summary[u.key].wall[v.name]!;
        const cpu = summary[u.key].cpu[v.name]!;
        const isBare = v.name === BARE;
        return [
          v.name,
          us(wall.nsPerOp),
          isBare ? '-' : us(wall.addedNs),
          isBare || v.name === OPOSSUM ? '-' : fmt(wall.addedVsOpossum, 2),
          isBare || v.name === COCKATIEL ? '-' : fmt(wall.addedVsCockatiel, 2),
          us(cpu.nsPerOp),
          isBare ? '-' : us(cpu.addedNs),
          isBare || v.name === OPOSSUM ? '-' : fmt(cpu.addedVsOpossum, 2),
          isBare || v.name === COCKATIEL ? '-' : fmt(cpu.addedVsCockatiel, 2),
        ];
      }),
    }));

    const wallTargets = upstreams.flatMap((u) =>
      u.variants
        .filter((v) => (v.name.startsWith('guard') || v.name.startsWith('route')) && !v.name.endsWith('(before)'))
        .flatMap((v) => {
          const wall = summary[u.key].wall;
          const s = wall[v.name]!;
          const where = u.key === 'sdk' ? 'around the SDK call' : 'around a no-op';
          return [
            {
              target: `${v.name} ${where}: added cost <= 1.5x opossum's`,
              measured: `${fmt(s.addedVsOpossum, 2)}x (${fmt(s.addedNs.median / 1000, 1)} vs ${fmt(wall[OPOSSUM]!.addedNs.median / 1000, 1)} us)`,
              met: within(s.addedVsOpossum, wall[OPOSSUM]!.addedNs.median, 1.5),
            },
            {
              target: `${v.name} ${where}: added cost <= cockatiel's full stack`,
              measured: `${fmt(s.addedVsCockatiel, 2)}x (${fmt(s.addedNs.median / 1000, 1)} vs ${fmt(wall[COCKATIEL]!.addedNs.median / 1000, 1)} us)`,
              met: within(s.addedVsCockatiel, wall[COCKATIEL]!.addedNs.median, 1),
            },
          ];
        }),
    );
    // Issue 11's targets, in CPU time around the SDK call, for the adapters' path; the pre-redesign
    // core's ratio measured in the same rounds is given alongside.
    const cpu = summary.sdk.cpu;
    const guardCpu = cpu[ROUTE_CREATE]!;
    const beforeCpu = cpu[before(ROUTE_CREATE)];
    const cpuUs = (name: string) => fmt(cpu[name]!.addedNs.median / 1000, 1);
    const cpuTargets = [
      {
        target: `${ROUTE_CREATE} around the SDK call: CPU added <= ${CPU_TARGET_VS_OPOSSUM}x opossum's fire`,
        measured: `${fmt(guardCpu.addedVsOpossum, 2)}x (${cpuUs(ROUTE_CREATE)} vs ${cpuUs(OPOSSUM)} us)${beforeCpu ? `; before: ${fmt(beforeCpu.addedVsOpossum, 2)}x` : ''}`,
        met: within(guardCpu.addedVsOpossum, cpu[OPOSSUM]!.addedNs.median, CPU_TARGET_VS_OPOSSUM),
      },
      {
        target: `${ROUTE_CREATE} around the SDK call: CPU added <= ${CPU_TARGET_VS_COCKATIEL}x cockatiel's wrap`,
        measured: `${fmt(guardCpu.addedVsCockatiel, 2)}x (${cpuUs(ROUTE_CREATE)} vs ${cpuUs(COCKATIEL)} us)${beforeCpu ? `; before: ${fmt(beforeCpu.addedVsCockatiel, 2)}x` : ''}`,
        met: within(guardCpu.addedVsCockatiel, cpu[COCKATIEL]!.addedNs.median, CPU_TARGET_VS_COCKATIEL),
      },
    ];
    const targets = [...wallTargets, ...cpuTargets];

    return {
      id: 1,
      name: 'Per-call overhead, happy path (in-process upstream)',
      config: {
        rounds,
        warmupCalls,
        chunks: Object.fromEntries(upstreams.map((u) => [u.key, { chunk: u.chunk, cycles: u.cycles }])),
        guardOptions: 'defaults',
        baseline: baseline ? { commit: baseline.commit } : { skipped: baselineSkipped },
        opossumOptions: 'defaults',
        cockatiel:
          'wrap(retry(handleAll, {maxAttempts: 2, ExponentialBackoff}), circuitBreaker(handleAll, {halfOpenAfter: 30s, ConsecutiveBreaker(5)}), timeout(60s, Aggressive))',
      },
      tables,
      targets,
      notes: [
        "Added cost is paired per round (each variant's calls minus the bare calls of the same round); the ratios divide the medians of the added costs.",
        'us/call is wall time. CPU us/call is the process CPU time (all threads, so GC helper threads too, which is why it can exceed wall time); it is shown as a cross-check, since on a shared machine wall time also counts time spent waiting for a core.',
        "Around the SDK call the per-round noise (see the min to max) is larger than opossum's own cost, so ratios to it are unstable there; the no-op table measures the wrappers alone. A target whose reference (opossum's or cockatiel's added cost) has a median at or below zero in this run is 'not measured'.",
        baseline
          ? `"(before)": the same calls on the core as it was before the redesign of issue 11 (${baseline.commit}, packages/core/src from git, bundled with esbuild), with the same options, client and SDK, in the same rounds.`
          : `"(before)" variants skipped: ${baselineSkipped}.`,
      ],
      figures: {
        perRound: Object.fromEntries(upstreams.map((u) => [u.key, Object.fromEntries(perUpstream[u.key]!)])),
        summary,
      },
      durationMs: performance.now() - startedAt,
    };
  } finally {
    sdkBreaker.shutdown();
    noopBreaker.shutdown();
    guard.close();
    oldGuard?.close();
    baseline?.dispose();
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
}

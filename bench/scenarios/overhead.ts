// Scenario 1: what the guard adds to one call on the happy path, in-process (the SDK's `fetch`
// answers at once), against opossum's `fire` and a cockatiel retry + breaker + timeout stack, and
// against the core as it was before the redesign of issue 11 (built from git). Each variant runs in a
// process of its own (bench/procs/overhead-variant.ts), as in an app that uses that one wrapper; the
// parent drives them in interleaved rounds, one at a time. All variants in one process are measured
// too, as a cross-check only.
import { BASELINE_COMMIT, buildBaselineCore, type BaselineCore } from '../lib/baseline.js';
import { bundleProc, type BundledProc } from '../lib/bundle.js';
import { forkChild, type BenchChild } from '../lib/ipc.js';
import {
  BARE,
  BARE_WITH_SIGNAL,
  before,
  chunkCost,
  COCKATIEL,
  OPOSSUM,
  ROUTE_CREATE,
  variantContext,
  variantSpecs,
  type ChunkCost,
  type CoreModule,
  type UpstreamKey,
  type VariantContext,
} from '../lib/overhead-variants.js';
import { gc, rotated, sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult, Table } from '../lib/report.js';
import { fmt, fmtSpread, percentile, spread, type Spread } from '../lib/stats.js';
import type { VariantConfig, VariantReady } from '../procs/overhead-variant.js';

const VARIANT_PROC = new URL('../procs/overhead-variant.ts', import.meta.url);

type Clock = 'cpu' | 'wall';

interface CostSummary {
  nsPerOp: Spread;
  addedNs: Spread;
  addedVsOpossum: number;
  addedVsCockatiel: number;
}

/**
 * Whether the parent has each child collect garbage (`gc()`) at the start of each round, as the
 * in-one-process measurement does. Off: a forced full GC deoptimizes the child's optimized code (V8
 * drops code whose embedded objects it collected, "weak objects"), and the re-optimization that
 * follows (on compiler threads, counted in the process CPU time) made a one-variant process pay 2x to
 * 4x per call for the next thousand calls or more, whereas a shared process spreads that over every
 * variant. A process of its own keeps its GC debt to itself, so the ordinary GCs inside its chunks
 * are its own cost, as in an app.
 */
const GC_EACH_ROUND_IN_CHILDREN = false;

/** The issue's CPU targets for the guard around the SDK call (issue 11): its added CPU time against each library's. */
const CPU_TARGET_VS_OPOSSUM = 5;
const CPU_TARGET_VS_COCKATIEL = 0.25;

interface Upstream {
  key: UpstreamKey;
  title: string;
  /** Variant names, in table order. */
  variants: string[];
  /** Calls per variant in a row before switching to the next variant. */
  chunk: number;
  /** Chunks per variant in a round; variants rotate after every chunk. */
  cycles: number;
}

/** Per round (`wall`, `cpu`: ns per call over the round) and per chunk (`chunkCpu`: each chunk's CPU ns per call). */
type Costs = { wall: number[]; cpu: number[]; chunkCpu: number[] };
type Summary = Record<Clock, Record<string, CostSummary>>;

/** Runs `chunk` calls of one variant, wherever it lives; gives the totals in ns. */
type RunChunk = (variant: string, calls: number) => Promise<ChunkCost>;

/**
 * `rounds` rounds of: a GC (`collect`), then `cycles` times every variant runs `chunk` calls, in an
 * order rotated each cycle, one variant at a time. Fine interleaving keeps the variants under the same
 * machine conditions; gives ns per call, per variant and round.
 */
async function measure(
  upstream: Upstream,
  rounds: number,
  warmupCalls: number,
  run: RunChunk,
  collect: () => Promise<void>,
): Promise<Map<string, Costs>> {
  for (const variant of upstream.variants) await run(variant, warmupCalls);
  const perRound = new Map<string, Costs>(upstream.variants.map((name) => [name, { wall: [], cpu: [], chunkCpu: [] }]));
  const calls = upstream.chunk * upstream.cycles;
  for (let round = 0; round < rounds; round++) {
    const totals = new Map(upstream.variants.map((name) => [name, { wall: 0, cpu: 0 }]));
    await collect();
    for (let cycle = 0; cycle < upstream.cycles; cycle++) {
      for (const variant of rotated(upstream.variants, cycle + round)) {
        const cost = await run(variant, upstream.chunk);
        perRound.get(variant)!.chunkCpu.push(cost.cpu / upstream.chunk);
        const total = totals.get(variant)!;
        total.wall += cost.wall;
        total.cpu += cost.cpu;
      }
    }
    for (const [name, t] of totals) {
      perRound.get(name)!.wall.push(t.wall / calls);
      perRound.get(name)!.cpu.push(t.cpu / calls);
    }
  }
  return perRound;
}

function summarize(variants: string[], perRound: Map<string, Costs>, clock: Clock): Record<string, CostSummary> {
  const nsPerOp = (name: string) => perRound.get(name)![clock];
  const bare = nsPerOp(BARE);
  const added = (name: string) => spread(nsPerOp(name).map((ns, i) => ns - bare[i]!));
  const opossum = added(OPOSSUM).median;
  const cockatiel = added(COCKATIEL).median;
  return Object.fromEntries(
    variants.map((name) => {
      const own = added(name);
      return [
        name,
        {
          nsPerOp: spread(nsPerOp(name)),
          addedNs: own,
          addedVsOpossum: own.median / opossum,
          addedVsCockatiel: own.median / cockatiel,
        },
      ];
    }),
  );
}

const summaryOf = (u: Upstream, perRound: Map<string, Costs>): Summary => ({
  cpu: summarize(u.variants, perRound, 'cpu'),
  wall: summarize(u.variants, perRound, 'wall'),
});

/** The chunk percentile of {@link quietCpu}: the quietest tenth of a variant's chunks. */
const QUIET_PERCENTILE = 10;

interface QuietCost {
  /** The 10th percentile of the variant's chunks' CPU ns per call. */
  nsPerOp: number;
  /** Over the bare call's. */
  addedNs: number;
  addedVsOpossum: number;
  addedVsCockatiel: number;
}

/**
 * A steadier reading of CPU per call than the median of paired rounds: each variant's quietest
 * chunks (their 10th percentile). Noise on a shared machine only adds CPU time (another tenant's
 * cache and memory traffic, frequency), and a round's median still carries it; a chunk of 100 calls
 * holds several of the variant's own minor GCs, so its quiet chunks still pay for its garbage.
 */
function quietCpu(variants: string[], perRound: Map<string, Costs>): Record<string, QuietCost> {
  const quiet = (name: string) =>
    percentile(
      [...perRound.get(name)!.chunkCpu].sort((a, b) => a - b),
      QUIET_PERCENTILE,
    );
  const bare = quiet(BARE);
  const opossum = quiet(OPOSSUM) - bare;
  const cockatiel = quiet(COCKATIEL) - bare;
  return Object.fromEntries(
    variants.map((name) => {
      const nsPerOp = quiet(name);
      const addedNs = nsPerOp - bare;
      return [name, { nsPerOp, addedNs, addedVsOpossum: addedNs / opossum, addedVsCockatiel: addedNs / cockatiel }];
    }),
  );
}

function quietTable(title: string, u: Upstream, quiet: Record<string, QuietCost>): Table {
  return {
    title,
    columns: [
      'variant',
      'CPU us/call (p10 of chunks)',
      'CPU added, us',
      'CPU added / opossum',
      'CPU added / cockatiel',
    ],
    rows: u.variants.map((name) => {
      const q = quiet[name]!;
      const isBare = name === BARE;
      return [
        name,
        fmt(q.nsPerOp / 1000, 1),
        isBare ? '-' : fmt(q.addedNs / 1000, 1),
        isBare || name === OPOSSUM ? '-' : fmt(q.addedVsOpossum, 2),
        isBare || name === COCKATIEL ? '-' : fmt(q.addedVsCockatiel, 2),
      ];
    }),
  };
}

/**
 * A ratio target's verdict: `null` (not measured) when the reference's added cost is not above zero,
 * i.e. below this run's noise, where any ratio to it is meaningless.
 */
const within = (ratio: number, reference: number, limit: number): boolean | null =>
  reference > 0 ? ratio <= limit : null;

const us = (s: Spread) => fmtSpread({ ...s, median: s.median / 1000, min: s.min / 1000, max: s.max / 1000 }, 1);

function costTable(title: string, u: Upstream, summary: Summary): Table {
  return {
    title,
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
    rows: u.variants.map((name) => {
      const wall = summary.wall[name]!;
      const cpu = summary.cpu[name]!;
      const isBare = name === BARE;
      return [
        name,
        us(wall.nsPerOp),
        isBare ? '-' : us(wall.addedNs),
        isBare || name === OPOSSUM ? '-' : fmt(wall.addedVsOpossum, 2),
        isBare || name === COCKATIEL ? '-' : fmt(wall.addedVsCockatiel, 2),
        us(cpu.nsPerOp),
        isBare ? '-' : us(cpu.addedNs),
        isBare || name === OPOSSUM ? '-' : fmt(cpu.addedVsOpossum, 2),
        isBare || name === COCKATIEL ? '-' : fmt(cpu.addedVsCockatiel, 2),
      ];
    }),
  };
}

const roundsText = (u: Upstream, rounds: number) =>
  `${rounds} rounds; each round ${u.cycles} x ${u.chunk} sequential awaited calls per variant, variants alternating; median (min to max) over rounds`;

export async function runOverhead(profile: Profile): Promise<ScenarioResult> {
  const startedAt = performance.now();
  // 20: the guard's added CPU is a tenth of the call's, and a round's noise is as large as the call's tenth.
  const rounds = sized(profile, { full: 20, quick: 3, smoke: 2 });
  const warmupCalls = sized(profile, { full: 5_000, quick: 2_000, smoke: 50 });
  // The in-one-process cross-check doubles the scenario's time; the smoke run (a shape check) skips it.
  const withCrossCheck = profile !== 'smoke';

  // The pre-redesign core, when git history has its commit (a shallow clone does not): same options, same client.
  let baseline: BaselineCore | undefined;
  let baselineSkipped: string | undefined;
  try {
    baseline = await buildBaselineCore();
  } catch (error) {
    baselineSkipped = `the core before the redesign (${BASELINE_COMMIT}) could not be built from git history (${firstLine(error)}); a shallow clone lacks it: \`git fetch --unshallow\` and run again`;
    process.stdout.write(`Scenario 1: skipping the "(before)" variants: ${baselineSkipped}\n\n`);
  }
  const withBaseline = baseline !== undefined;
  const names = (key: UpstreamKey) => variantSpecs(key, withBaseline).map((v) => v.name);

  const upstreams: Upstream[] = [
    {
      key: 'sdk',
      title: 'Around the SDK call (client.messages.create, fetch answered in-process)',
      variants: names('sdk'),
      chunk: sized(profile, { full: 100, quick: 50, smoke: 10 }),
      cycles: sized(profile, { full: 10, quick: 8, smoke: 2 }),
    },
    {
      key: 'noop',
      title: "Around a no-op async function (the wrappers' own cost)",
      variants: names('noop'),
      chunk: sized(profile, { full: 1_000, quick: 500, smoke: 50 }),
      cycles: sized(profile, { full: 10, quick: 8, smoke: 2 }),
    },
  ];

  const children = new Map<string, BenchChild<VariantReady>>();
  const childKey = (key: UpstreamKey, variant: string) => `${key}: ${variant}`;
  let crossCheckContext: VariantContext | undefined;
  let proc: BundledProc | undefined;
  try {
    // Bundled and forked with node alone (no tsx): a dozen children start in seconds.
    proc = await bundleProc(VARIANT_PROC);
    const script = proc.url;
    // One process per variant and upstream, all forked at once (start-up is not measured) and kept
    // for the whole scenario; only one of them runs at a time.
    const forked = await Promise.allSettled(
      upstreams.flatMap((u) =>
        u.variants.map(async (variant) => {
          const config: VariantConfig = { upstream: u.key, variant, ...(baseline && { baselineUrl: baseline.url }) };
          const child = await forkChild<VariantReady>(script, config, { execArgv: ['--expose-gc'], tsx: false });
          children.set(childKey(u.key, variant), child);
        }),
      ),
    );
    const failed = forked.find((f): f is PromiseRejectedResult => f.status === 'rejected');
    if (failed) throw failed.reason;

    const perUpstream = {} as Record<UpstreamKey, Map<string, Costs>>;
    for (const u of upstreams) {
      const own = u.variants.map((variant) => children.get(childKey(u.key, variant))!);
      perUpstream[u.key] = await measure(
        u,
        rounds,
        warmupCalls,
        (variant, calls) => children.get(childKey(u.key, variant))!.call<ChunkCost>('run', { calls }),
        async () => {
          if (GC_EACH_ROUND_IN_CHILDREN) for (const child of own) await child.call('gc');
        },
      );
    }
    const summary = {
      sdk: summaryOf(upstreams[0]!, perUpstream.sdk),
      noop: summaryOf(upstreams[1]!, perUpstream.noop),
    } satisfies Record<UpstreamKey, Summary>;

    // The cross-check: every variant around the SDK call in this one process, as the scenario measured
    // before; its SDK functions see every caller's option shape and its heap is shared.
    let crossCheck: { perRound: Map<string, Costs>; summary: Summary } | undefined;
    if (withCrossCheck) {
      const sdk = upstreams[0]!;
      const oldCore = baseline ? ((await import(baseline.url)) as CoreModule) : undefined;
      crossCheckContext = variantContext(oldCore);
      const ctx = crossCheckContext;
      const calls = new Map(variantSpecs('sdk', withBaseline).map((v) => [v.name, v.build(ctx)]));
      const perRound = await measure(
        sdk,
        rounds,
        warmupCalls,
        (variant, n) => chunkCost(calls.get(variant)!, n),
        () => Promise.resolve(gc()),
      );
      crossCheck = { perRound, summary: summaryOf(sdk, perRound) };
    }

    const quiet = quietCpu(upstreams[0]!.variants, perUpstream.sdk);
    const tables = [
      ...upstreams.map((u) =>
        costTable(`${u.title}, each variant in a process of its own: ${roundsText(u, rounds)}`, u, summary[u.key]),
      ),
      quietTable(
        `Around the SDK call, the same chunks read another way: each variant's ${QUIET_PERCENTILE}th percentile of its ${rounds * upstreams[0]!.cycles} chunks' CPU per call (${upstreams[0]!.chunk} calls each)`,
        upstreams[0]!,
        quiet,
      ),
      ...(crossCheck
        ? [
            costTable(
              `Cross-check: all variants in one process (polymorphic SDK, shared heap), around the SDK call; not used for the targets: ${roundsText(upstreams[0]!, rounds)}`,
              upstreams[0]!,
              crossCheck.summary,
            ),
          ]
        : []),
    ];

    const wallTargets = upstreams.flatMap((u) =>
      u.variants
        .filter((name) => (name.startsWith('guard') || name.startsWith('route')) && !name.endsWith('(before)'))
        .flatMap((name) => {
          const wall = summary[u.key].wall;
          const s = wall[name]!;
          const where = u.key === 'sdk' ? 'around the SDK call' : 'around a no-op';
          return [
            {
              target: `${name} ${where}: added cost <= 1.5x opossum's`,
              measured: `${fmt(s.addedVsOpossum, 2)}x (${fmt(s.addedNs.median / 1000, 1)} vs ${fmt(wall[OPOSSUM]!.addedNs.median / 1000, 1)} us)`,
              met: within(s.addedVsOpossum, wall[OPOSSUM]!.addedNs.median, 1.5),
            },
            {
              target: `${name} ${where}: added cost <= cockatiel's full stack`,
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
    // The same two targets on the quiet chunks (see quietCpu).
    const quietGuard = quiet[ROUTE_CREATE]!;
    const quietUs = (name: string) => fmt(quiet[name]!.addedNs / 1000, 1);
    const quietTargets = [
      {
        target: `${ROUTE_CREATE} around the SDK call, quiet chunks: CPU added <= ${CPU_TARGET_VS_OPOSSUM}x opossum's fire`,
        measured: `${fmt(quietGuard.addedVsOpossum, 2)}x (${quietUs(ROUTE_CREATE)} vs ${quietUs(OPOSSUM)} us)`,
        met: within(quietGuard.addedVsOpossum, quiet[OPOSSUM]!.addedNs, CPU_TARGET_VS_OPOSSUM),
      },
      {
        target: `${ROUTE_CREATE} around the SDK call, quiet chunks: CPU added <= ${CPU_TARGET_VS_COCKATIEL}x cockatiel's wrap`,
        measured: `${fmt(quietGuard.addedVsCockatiel, 2)}x (${quietUs(ROUTE_CREATE)} vs ${quietUs(COCKATIEL)} us)`,
        met: within(quietGuard.addedVsCockatiel, quiet[COCKATIEL]!.addedNs, CPU_TARGET_VS_COCKATIEL),
      },
    ];
    const targets = [...wallTargets, ...cpuTargets, ...quietTargets];

    const bareCpuUs = (s: Summary) => fmt(s.cpu[BARE]!.nsPerOp.median / 1000, 1);
    const sharedNote = crossCheck
      ? ` In this run the bare SDK call took ${bareCpuUs(summary.sdk)} us CPU in its own process and ${bareCpuUs(crossCheck.summary)} us in the shared one (${fmt(crossCheck.summary.cpu[BARE]!.nsPerOp.median / summary.sdk.cpu[BARE]!.nsPerOp.median, 2)}x).`
      : ' (The smoke profile skips the cross-check.)';

    return {
      id: 1,
      name: 'Per-call overhead, happy path (in-process upstream)',
      config: {
        rounds,
        warmupCalls,
        chunks: Object.fromEntries(upstreams.map((u) => [u.key, { chunk: u.chunk, cycles: u.cycles }])),
        isolation:
          'one child process per variant and upstream (bench/procs/overhead-variant.ts), one running at a time',
        gcEachRoundInChildren: GC_EACH_ROUND_IN_CHILDREN,
        crossCheck: withCrossCheck ? 'sdk: all variants in the parent process' : 'skipped (smoke)',
        guardOptions: 'defaults',
        baseline: baseline ? { commit: baseline.commit } : { skipped: baselineSkipped },
        opossumOptions: 'defaults',
        cockatiel:
          'wrap(retry(handleAll, {maxAttempts: 2, ExponentialBackoff}), circuitBreaker(handleAll, {halfOpenAfter: 30s, ConsecutiveBreaker(5)}), timeout(60s, Aggressive))',
      },
      tables,
      targets,
      notes: [
        `Each variant runs in a child process of its own (forked once, warmed up with ${warmupCalls} calls, kept for the whole scenario) that builds only that variant, as an app that uses one of these wrappers would; the parent drives the children in the interleaved rounds, one at a time, and each child measures its own chunks (its process CPU time and wall time). The children are bundled with esbuild and run by node alone (no tsx), and are not made to collect garbage between rounds (a forced full GC deoptimizes a process's optimized code; see GC_EACH_ROUND_IN_CHILDREN in bench/scenarios/overhead.ts): their GCs are their own, inside their chunks. Why: in one process the SDK's functions see every variant's option shape (none, {signal}, {signal, timeout, maxRetries}) and go polymorphic, and the heap and GC are shared, so each variant's cost depends on the others: the bare call costs about 2x its isolated CPU time there.${sharedNote} The cross-check table (all variants in one process, the earlier method) is shown for comparison only; the targets use the isolated figures.`,
        `The quiet-chunks table reads the same chunks as the first: for each variant the ${QUIET_PERCENTILE}th percentile of its chunks' CPU per call, minus the bare call's. Noise on a shared machine only adds CPU time, and a round's median still carries it (the rounds' min to max spans a fifth of the call); a chunk of ${upstreams[0]!.chunk} calls holds several of the variant's own minor GCs, so its quiet chunks still pay for its garbage.`,
        "Added cost is paired per round (each variant's calls minus the bare calls of the same round); the ratios divide the medians of the added costs.",
        "us/call is wall time. CPU us/call is the variant's process CPU time (all threads, so GC helper threads too, which is why it can exceed wall time); it is shown as a cross-check, since on a shared machine wall time also counts time spent waiting for a core.",
        `"${BARE_WITH_SIGNAL}" is the bare call given an AbortSignal that never aborts: its added CPU (${cpuUs(BARE_WITH_SIGNAL)} us in this run) is the SDK's own work for a caller's signal (an abort listener, a WeakMap entry and a FinalizationRegistry registration per call, removed when the body is read). The guard and cockatiel cause it (they pass a signal, to stop the request at a deadline or when the client leaves) and opossum does not (it cannot stop a call); it is part of their added cost.`,
        "Around the SDK call the per-round noise (see the min to max) is larger than opossum's own cost, so ratios to it are unstable there; the no-op table measures the wrappers alone. A target whose reference (opossum's or cockatiel's added cost) has a median at or below zero in this run is 'not measured'.",
        baseline
          ? `"(before)": the same calls on the core as it was before the redesign of issue 11 (${baseline.commit}, packages/core/src from git, bundled with esbuild), with the same options, client and SDK, in the same rounds, each in a process of its own too.`
          : `"(before)" variants skipped: ${baselineSkipped}.`,
      ],
      figures: {
        perRound: Object.fromEntries(upstreams.map((u) => [u.key, Object.fromEntries(perUpstream[u.key])])),
        summary,
        quiet: { sdk: quiet },
        ...(crossCheck && {
          crossCheck: { sdk: { perRound: Object.fromEntries(crossCheck.perRound), summary: crossCheck.summary } },
        }),
      },
      durationMs: performance.now() - startedAt,
    };
  } finally {
    crossCheckContext?.close();
    await Promise.allSettled([...children.values()].map((child) => child.stop()));
    proc?.dispose();
    baseline?.dispose();
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
}

// `pnpm bench [overhead ...] [--quick] [--only 1,3] [--out file.json]`: runs the scenarios of
// docs/benchmarks.md (all, or those named or numbered), prints one markdown table per scenario and
// writes every figure to bench/results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Profile } from './lib/profile.js';
import { renderScenario, type ScenarioResult } from './lib/report.js';
import { runDeadline } from './scenarios/deadline.js';
import { runDisconnect } from './scenarios/disconnect.js';
import { runFleet } from './scenarios/fleet.js';
import { runLongTail } from './scenarios/long-tail.js';
import { runOutage } from './scenarios/outage.js';
import { runOverQuota } from './scenarios/over-quota.js';
import { runOverhead } from './scenarios/overhead.js';
import { runRouteThroughput } from './scenarios/route-throughput.js';
import { runStreaming } from './scenarios/streaming.js';
import { runTelemetryCost } from './scenarios/telemetry.js';

const SCENARIOS: Record<number, (profile: Profile) => Promise<ScenarioResult>> = {
  1: runOverhead,
  2: runRouteThroughput,
  3: runStreaming,
  4: runOutage,
  5: runDisconnect,
  6: runDeadline,
  7: runOverQuota,
  8: runTelemetryCost,
  9: runLongTail,
  10: runFleet,
};

/** Names for the scenarios, so that one can be run alone: `pnpm bench overhead`. */
const NAMES: Record<string, number> = {
  overhead: 1,
  'route-throughput': 2,
  streaming: 3,
  outage: 4,
  disconnect: 5,
  deadline: 6,
  fleet: 10,
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});
const profile: Profile = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full';
for (const name of positionals) {
  if (NAMES[name] === undefined) throw new Error(`no scenario named ${name} (${Object.keys(NAMES).join(', ')})`);
}
const picked = [...(values.only?.split(',').map((s) => Number(s.trim())) ?? []), ...positionals.map((n) => NAMES[n]!)];
const only = picked.length > 0 ? picked : Object.keys(SCENARIOS).map(Number);
for (const id of only) {
  if (!SCENARIOS[id]) throw new Error(`--only: no scenario ${id} (1-10)`);
}
const out =
  values.out ??
  fileURLToPath(
    new URL(
      profile === 'full' && picked.length === 0 ? './results/latest.json' : `./results/${profile}.json`,
      import.meta.url,
    ),
  );

const cpuList = cpus();
const machine = {
  cpus: cpuList.length,
  model: cpuList[0]?.model ?? 'unknown',
  memoryBytes: totalmem(),
  freeMemoryBytesAtStart: freemem(),
  loadAverageAtStart: loadavg(),
  platform: `${process.platform} ${process.arch}`,
  node: process.version,
};
const started = new Date();
process.stdout.write(
  `# claude-guard benchmarks (${profile})\n\n${machine.cpus} x ${machine.model}, ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, Node ${machine.node}, load average ${machine.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}, ${started.toISOString()}\n\n`,
);

const results: ScenarioResult[] = [];
for (const id of only) {
  const result = await SCENARIOS[id]!(profile);
  results.push(result);
  process.stdout.write(`${renderScenario(result)}\n_(${(result.durationMs / 1000).toFixed(1)} s)_\n\n`);
}

mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify(
    {
      profile,
      date: started.toISOString(),
      durationMs: Date.now() - started.getTime(),
      command: `node ${process.execArgv.join(' ')} bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
      machine: { ...machine, loadAverageAtEnd: loadavg() },
      scenarios: results,
    },
    null,
    2,
  )}\n`,
);
process.stdout.write(`Results written to ${out}\n`);

// What each part of the telemetry costs per guarded call, in CPU time, without the noise of a load
// generator: scenario 8's in-process loop (route.begin + claude.messages.create + end against an
// in-process upstream), once per variant, variants interleaved, CPU time (process.cpuUsage) per call.
// Also the loop to run under `node --cpu-prof` or valgrind (`--only <variant> --calls N`).
//
//   node --expose-gc --import tsx bench/tools/telemetry-cost.ts                 # all variants, table
//   node --import tsx --cpu-prof bench/tools/telemetry-cost.ts --only on --rounds 0 --calls 20000
//   valgrind --tool=callgrind --instr-atstart=no node --import tsx bench/tools/telemetry-cost.ts \
//     --only on --rounds 0 --calls 2000 --callgrind    # instructions of the measured calls only
import { execFileSync } from 'node:child_process';
import { createClaudeGuard, type ClaudeGuard, type HeaderReader, type Instrumentation } from '@claude-guard/core';
import { createPrometheusMetrics } from '@claude-guard/telemetry';
import { createOtelInstrumentation, createOtelMetrics } from '@claude-guard/telemetry/otel';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { chatParams, inProcessClient } from '../lib/fixtures.js';
import { noopMeterProvider, noopTracerProvider } from '../lib/telemetry.js';

const NO_HEADERS: HeaderReader = { get: () => null };

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? undefined : args[at + 1];
};
const only = option('only');
const calls = Number(option('calls') ?? 2000);
const rounds = Number(option('rounds') ?? 15);
const warmup = Number(option('warmup') ?? 3000);
// Under callgrind started with --instr-atstart=no: instrument only the measured calls (not the
// start-up, compilation of the warm-up, or shutdown), so their instruction count is read directly.
const callgrind = args.includes('--callgrind');
const instrument = (on: boolean) => {
  if (callgrind) execFileSync('callgrind_control', ['-i', on ? 'on' : 'off', String(process.pid)], { stdio: 'ignore' });
};

const client = inProcessClient();
const params = chatParams('hello bench');

// One process-wide context manager, as an OpenTelemetry app has: every variant pays its promise hooks.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const tracerProvider = noopTracerProvider();
const meterProvider = noopMeterProvider();

interface Variant {
  name: string;
  once: () => Promise<unknown>;
}
const guards: ClaudeGuard[] = [];
const closers: (() => void)[] = [];
function guardedVariant(
  name: string,
  parts: { spans?: boolean; otelMetrics?: boolean; prometheus?: boolean; listener?: boolean },
): Variant {
  const instrumentation: Instrumentation | undefined = parts.spans
    ? createOtelInstrumentation({ tracerProvider })
    : undefined;
  const guard = createClaudeGuard({ client, ...(instrumentation ? { instrumentation } : {}) });
  guards.push(guard);
  if (parts.otelMetrics) {
    const otelMetrics = createOtelMetrics({ guard, meterProvider });
    closers.push(() => otelMetrics.close());
  }
  if (parts.prometheus) {
    const prometheus = createPrometheusMetrics({ guard });
    closers.push(() => prometheus.close());
  }
  if (parts.listener) closers.push(guard.on(() => {}));
  const route = guard.route({ route: `bench-${name}` });
  return {
    name,
    once: async () => {
      const begun = route.begin({ headers: NO_HEADERS });
      if (!begun.ok) throw begun.error;
      await begun.call.claude.messages.create(params);
      begun.call.end(200);
    },
  };
}

const variants: Variant[] = [
  { name: 'bare', once: () => client.messages.create(params) },
  guardedVariant('off', {}),
  guardedVariant('listener', { listener: true }),
  guardedVariant('spans', { spans: true }),
  guardedVariant('otel-metrics', { otelMetrics: true }),
  guardedVariant('prometheus', { prometheus: true }),
  guardedVariant('on', { spans: true, otelMetrics: true, prometheus: true }),
].filter((v) => only === undefined || only.split(',').includes(v.name));

async function cpuPerCall(once: () => Promise<unknown>, n: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) await once();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

const gc = (globalThis as { gc?: () => void }).gc;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

try {
  for (const variant of variants) await cpuPerCall(variant.once, warmup);
  if (only !== undefined && rounds === 0) {
    // Profiling: one straight run of `calls` per variant.
    for (const variant of variants) {
      // A clean heap, so that the count does not depend on where in the warm-up's garbage it starts.
      gc?.();
      instrument(true);
      await cpuPerCall(variant.once, calls);
      instrument(false);
    }
  } else {
    const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (let round = 0; round < rounds; round++) {
      gc?.();
      for (let i = 0; i < variants.length; i++) {
        const variant = variants[(i + round) % variants.length]!;
        if (callgrind) {
          // Each variant's calls of each round in a dump of their own (`<out-file>.<n>`, its `desc:` naming them).
          gc?.();
          execFileSync('callgrind_control', ['-z', String(process.pid)], { stdio: 'ignore' });
          instrument(true);
        }
        samples.get(variant.name)!.push(await cpuPerCall(variant.once, calls));
        if (callgrind) {
          instrument(false);
          execFileSync('callgrind_control', ['-d', `${variant.name}/${round}`, String(process.pid)], {
            stdio: 'ignore',
          });
        }
      }
    }
    const off = samples.get('off');
    for (const [name, values] of samples) {
      const added = off
        ? ` (${(median(values.map((v, i) => v - off[i]!)) >= 0 ? '+' : '') + median(values.map((v, i) => v - off[i]!)).toFixed(1)} over off)`
        : '';
      console.log(
        `${name.padEnd(14)} ${median(values).toFixed(1).padStart(7)} us CPU/call${added}  [${Math.min(...values).toFixed(1)} to ${Math.max(...values).toFixed(1)}]`,
      );
    }
  }
} finally {
  for (const close of closers) close();
  for (const guard of guards) guard.close();
  await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
  context.disable();
}

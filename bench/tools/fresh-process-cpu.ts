// CPU per call with each variant alone in a fresh process: the steadier estimator behind the hand-run
// figures of docs/benchmarks.md (sections 1 and 8). Noise on a shared machine only adds CPU time, and
// a long-lived process drifts (its heap, its JIT), so each process runs one variant, warms it up, times
// its calls in chunks and reports the chunks' 10th percentile; each variant runs in several processes,
// interleaved with the others', and the table shows the median of those.
//
//   node --import tsx bench/tools/fresh-process-cpu.ts overhead    # scenario 1's variants, around the SDK call
//   node --import tsx bench/tools/fresh-process-cpu.ts telemetry   # scenario 8's parts, one at a time
//   options: --processes 6 (per variant)  --calls 120000 (per process, after 20 000 to warm up)
//
// Needs the built packages (`pnpm build`), as `pnpm bench` does.
import { execFileSync } from 'node:child_process';
import { createClaudeGuard, type ClaudeGuardOptions, type HeaderReader } from '@claude-guard/core';
import { createPrometheusMetrics } from '@claude-guard/telemetry';
import { createOtelInstrumentation, createOtelMetrics } from '@claude-guard/telemetry/otel';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { bundleProc } from '../lib/bundle.js';
import { chatParams, inProcessClient, MODEL } from '../lib/fixtures.js';
import { variantContext, variantSpecs } from '../lib/overhead-variants.js';
import { median, percentile } from '../lib/stats.js';
import { benchTelemetry, noopMeterProvider, noopTracerProvider } from '../lib/telemetry.js';

const SETS = ['overhead', 'telemetry'] as const;
type VariantSet = (typeof SETS)[number];

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  const value = at === -1 ? fallback : Number(args[at + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer`);
  return value;
};
const WARMUP_CALLS = 20_000;
const CHUNKS = 60;

// ---- the variants (built in the child, one per process) ----

const NO_HEADERS: HeaderReader = { get: () => null };
const params = chatParams('hello bench');

/** `route.begin` + `claude.messages.create` + `end`, the adapters' path, on a guard with `options`. */
function routeCall(options: Omit<ClaudeGuardOptions, 'client'> = {}) {
  const guard = createClaudeGuard({ client: inProcessClient(), ...options });
  const route = guard.route({ route: 'bench-fresh' });
  return {
    guard,
    around: (wrap: <T>(fn: () => Promise<T>) => Promise<T>) => async () => {
      const begun = route.begin({ headers: NO_HEADERS });
      if (!begun.ok) throw begun.error;
      await wrap(() => begun.call.claude.messages.create(params));
      begun.call.end(200);
    },
  };
}
const direct = <T>(fn: () => Promise<T>): Promise<T> => fn();

/**
 * The least any tracing of a guarded call does with the OpenTelemetry SDK: a request span and an
 * attempt span (active while the SDK call starts) with the attributes the GenAI conventions name.
 */
function twoPlainSpans(): <T>(fn: () => Promise<T>) => Promise<T> {
  const tracer = noopTracerProvider().getTracer('claude-guard-floor');
  return async (fn) => {
    const request = tracer.startSpan('claude-guard bench', { attributes: { 'claude_guard.route': 'bench' } });
    const parent = trace.setSpan(context.active(), request);
    const attempt = tracer.startSpan(
      `chat ${MODEL}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'anthropic',
          'gen_ai.request.model': MODEL,
          'gen_ai.request.max_tokens': params.max_tokens,
          'gen_ai.request.stream': false,
        },
      },
      parent,
    );
    try {
      const message = await context.with(trace.setSpan(parent, attempt), fn);
      attempt.setAttributes({
        'gen_ai.response.id': 'msg_bench',
        'gen_ai.response.model': MODEL,
        'gen_ai.response.finish_reasons': ['end_turn'],
        'gen_ai.usage.input_tokens': 11,
        'gen_ai.usage.output_tokens': 6,
      });
      return message;
    } finally {
      attempt.end();
      request.setAttributes({ 'claude_guard.outcome': 'ok', 'http.response.status_code': 200 });
      request.end();
    }
  };
}

const withContextManager = () => context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const TELEMETRY: Record<string, () => () => Promise<unknown>> = {
  'guard, telemetry off': () => routeCall().around(direct),
  'spans (createOtelInstrumentation)': () =>
    routeCall({ instrumentation: createOtelInstrumentation({ tracerProvider: noopTracerProvider() }) }).around(direct),
  'two plain OpenTelemetry spans around the call': () => routeCall().around(twoPlainSpans()),
  'OpenTelemetry metrics (createOtelMetrics)': () => {
    const call = routeCall();
    createOtelMetrics({ meterProvider: noopMeterProvider() }).observe(call.guard);
    return call.around(direct);
  },
  'Prometheus metrics (createPrometheusMetrics)': () => {
    const call = routeCall();
    createPrometheusMetrics().observe(call.guard);
    return call.around(direct);
  },
  'the AsyncLocalStorage context manager alone': () => {
    withContextManager();
    return routeCall().around(direct);
  },
  'all of it (scenario 8)': () => {
    const telemetry = benchTelemetry();
    const call = routeCall({ instrumentation: telemetry.instrumentation });
    telemetry.observe(call.guard);
    return call.around(direct);
  },
};

// Never aborted, as the guard's pooled signals are not while a call runs.
const UNUSED_SIGNAL = new AbortController().signal;

/**
 * The bare call given what the guard gives it: a signal (how a deadline or a client that leaves stops
 * the upstream request), the attempt's `timeout` and `maxRetries: 0`. The SDK's own work for these is
 * a floor under any wrapper that can cancel the call; opossum passes none of them.
 */
const GUARD_OPTIONS = "bare call with the guard's options (signal, timeout, maxRetries: 0)";

function variantNames(set: VariantSet): string[] {
  if (set === 'telemetry') return Object.keys(TELEMETRY);
  const names = variantSpecs('sdk', false)
    .map((spec) => spec.name)
    .filter((name) => !name.startsWith('guard.run'));
  return [...names.slice(0, 2), GUARD_OPTIONS, ...names.slice(2), POLICIES_OFF];
}

/** The route call with the breaker, the retry budget and rate-limit reading turned off: what they cost together. */
const POLICIES_OFF = 'route.begin + claude.messages.create, breaker, retry budget and rate limits off';

function buildVariant(set: VariantSet, name: string): () => Promise<unknown> {
  if (set === 'telemetry') {
    const make = TELEMETRY[name];
    if (!make) throw new Error(`no telemetry variant "${name}"`);
    return make();
  }
  if (name === POLICIES_OFF) {
    return routeCall({ breaker: { enabled: false }, retryBudget: false, rateLimits: { enabled: false } }).around(
      direct,
    );
  }
  if (name === GUARD_OPTIONS) {
    const client = inProcessClient();
    return () => client.messages.create(params, { signal: UNUSED_SIGNAL, timeout: 600_000, maxRetries: 0 });
  }
  const spec = variantSpecs('sdk', false).find((v) => v.name === name);
  if (!spec) throw new Error(`no overhead variant "${name}"`);
  return spec.build(variantContext());
}

/** The child: one variant, warmed up, then the 10th percentile of its chunks' CPU per call, in us. */
async function child(set: VariantSet, name: string, calls: number): Promise<void> {
  const once = buildVariant(set, name);
  for (let i = 0; i < WARMUP_CALLS; i++) await once();
  const perChunk = Math.max(1, Math.floor(calls / CHUNKS));
  const costs: number[] = [];
  for (let chunk = 0; chunk < CHUNKS; chunk++) {
    const before = process.cpuUsage();
    for (let i = 0; i < perChunk; i++) await once();
    const used = process.cpuUsage(before);
    costs.push((used.user + used.system) / perChunk);
  }
  costs.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ p10: percentile(costs, 10) })}\n`);
  // Breakers, meter readers and span processors keep timers: this process is done.
  process.exit(0);
}

/** The parent: every variant in `processes` fresh processes, interleaved; a table of medians. */
async function parent(set: VariantSet): Promise<void> {
  const processes = option('processes', 6);
  const calls = option('calls', 120_000);
  const names = variantNames(set);
  const bundled = await bundleProc(new URL(import.meta.url));
  try {
    const results = new Map<string, number[]>(names.map((name) => [name, []]));
    for (let round = 0; round < processes; round++) {
      for (const name of names) {
        const out = execFileSync(
          process.execPath,
          [bundled.url.pathname, '--child', set, name, '--calls', String(calls)],
          { encoding: 'utf8', maxBuffer: 1 << 20 },
        );
        const { p10 } = JSON.parse(out.trim().split('\n').at(-1)!) as { p10: number };
        results.get(name)!.push(p10);
        process.stderr.write(`round ${round + 1}/${processes} ${name}: ${p10.toFixed(1)} us\n`);
      }
    }
    const base = median(results.get(names[0]!)!);
    console.log(`\n${set}: ${processes} fresh processes per variant, ${calls} calls each (p10 of ${CHUNKS} chunks)\n`);
    console.log('| variant | CPU us/call (processes) | median | added, us |');
    console.log('| --- | --- | ---: | ---: |');
    for (const name of names) {
      const values = results.get(name)!;
      const sorted = [...values].sort((a, b) => a - b);
      const mid = median(values);
      const added = name === names[0] ? '-' : (mid - base).toFixed(1);
      console.log(
        `| ${name} | ${sorted[0]!.toFixed(1)} to ${sorted.at(-1)!.toFixed(1)} | ${mid.toFixed(1)} | ${added} |`,
      );
    }
  } finally {
    bundled.dispose();
  }
}

const childAt = args.indexOf('--child');
if (childAt !== -1) {
  await child(args[childAt + 1] as VariantSet, args[childAt + 2]!, option('calls', 120_000));
} else {
  const set = args[0] as VariantSet;
  if (!SETS.includes(set)) throw new Error(`usage: fresh-process-cpu.ts ${SETS.join('|')} [--processes N] [--calls N]`);
  await parent(set);
}

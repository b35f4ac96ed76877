// Scenario 3: streaming through the guard's passthrough (claudeProxy) vs a naive pipe of the SDK
// stream, both on Express in a server process. fake-anthropic runs in this (the driver) process,
// next to the end-user client, so one clock times an event leaving the upstream and reaching the
// end user; the server under test sits between them over two real loopback connections.
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { Agent, ServerResponse } from 'node:http';
import type { MemorySample, ServerReady } from '../procs/server.js';
import { streamBody } from '../lib/fixtures.js';
import { forkChild, sleep } from '../lib/ipc.js';
import { rotated, sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult, TargetCheck } from '../lib/report.js';
import { openSse, type SseArrival, type SseHandle } from '../lib/sse-client.js';
import { dist, fmt, fmtSpread, spread, type Dist } from '../lib/stats.js';

const VARIANTS = ['naive pipe', 'guard passthrough'] as const;
type Variant = (typeof VARIANTS)[number];
const PATH: Record<Variant, string> = { 'naive pipe': '/naive/v1/messages', 'guard passthrough': '/v1/messages' };
const SERVER = new URL('../procs/server.ts', import.meta.url);

/**
 * Records when the fake hands each SSE event to its socket (bench instrumentation: the fake writes
 * one event per `res.write`). Only this process's HTTP server, the fake, writes through it.
 */
function recordUpstreamWrites(): { writes: SseArrival[]; restore: () => void } {
  const writes: SseArrival[] = [];
  // eslint-disable-next-line @typescript-eslint/unbound-method -- saved to be called with `apply` and restored
  const original = ServerResponse.prototype.write;
  const patched = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
    if (typeof chunk === 'string' && chunk.startsWith('event: ')) {
      writes.push({ type: chunk.slice(7, chunk.indexOf('\n')), at: performance.now() });
    }
    return (original as (...args: unknown[]) => boolean).apply(this, [chunk, ...rest]);
  };
  ServerResponse.prototype.write = patched as typeof original;
  return { writes, restore: () => (ServerResponse.prototype.write = original) };
}

interface LatencyRound {
  ttfbMs: Dist;
  perEventMs: Dist;
  failed: number;
  mismatched: number;
}

async function latencyRound(
  base: string,
  variant: Variant,
  streams: number,
  writes: SseArrival[],
  agent: Agent,
): Promise<LatencyRound> {
  const ttfb: number[] = [];
  const perEvent: number[] = [];
  let failed = 0;
  let mismatched = 0;
  for (let i = 0; i < streams; i++) {
    writes.length = 0;
    const result = await openSse({ url: `${base}${PATH[variant]}`, body: streamBody(), agent, timeoutMs: 5_000 })
      .result;
    if (result.status !== 200 || result.error !== undefined || result.events.length === 0) {
      failed += 1;
      continue;
    }
    // The SDK drops `ping`, so the naive pipe never forwards it; compare the other events in order.
    const received = result.events.filter((e) => e.type !== 'ping');
    const sent = writes.filter((e) => e.type !== 'ping');
    if (received.length !== sent.length || received.some((e, k) => e.type !== sent[k]!.type)) {
      mismatched += 1;
      continue;
    }
    ttfb.push(received[0]!.at - result.startedAt);
    received.forEach((e, k) => perEvent.push(e.at - sent[k]!.at));
  }
  return { ttfbMs: dist(ttfb), perEventMs: dist(perEvent), failed, mismatched };
}

interface MemoryRound {
  opened: number;
  failed: number;
  before: MemorySample;
  after: MemorySample;
  rssPerStream: number;
  heapPerStream: number;
  externalPerStream: number;
}

async function memoryRound(fake: FakeAnthropic, variant: Variant, streams: number): Promise<MemoryRound> {
  const server = await forkChild<ServerReady>(
    SERVER,
    { upstream: fake.url, bareMaxRetries: 0 },
    { execArgv: ['--expose-gc'] },
  );
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const handles: SseHandle[] = [];
  const url = `${server.ready.express}${PATH[variant]}`;
  try {
    fake.setDefault({ faultRate: 0 });
    // Warm the process up (JIT, pools) so the baseline is not mostly first-use allocation.
    for (let wave = 0; wave < 4; wave++) {
      await Promise.all(
        Array.from({ length: 25 }, () => openSse({ url, body: streamBody(), agent, timeoutMs: 10_000 }).result),
      );
    }
    await sleep(200);
    const before = await server.call<MemorySample>('memory');

    // Every stream sends message_start, content_block_start, ping and one delta, then stalls open.
    fake.setDefault({ faultRate: 1, fault: { kind: 'stall', afterEvents: 4 } });
    let opened = 0;
    let failed = 0;
    const waveSize = 100;
    for (let start = 0; start < streams; start += waveSize) {
      const wave = Array.from({ length: Math.min(waveSize, streams - start) }, () => {
        let markOpen: () => void = () => {};
        const open = new Promise<void>((resolve) => (markOpen = resolve));
        const handle = openSse({
          url,
          body: streamBody(),
          agent,
          timeoutMs: 120_000,
          onEvent: (event) => {
            if (event.type === 'content_block_delta') markOpen();
          },
        });
        handles.push(handle);
        return Promise.race([open.then(() => true), handle.result.then(() => false), sleep(30_000).then(() => false)]);
      });
      for (const ok of await Promise.all(wave)) {
        if (ok) opened += 1;
        else failed += 1;
      }
    }
    await sleep(500);
    const after = await server.call<MemorySample>('memory');
    const per = (field: keyof MemorySample) => (after[field] - before[field]) / Math.max(1, opened);
    return {
      opened,
      failed,
      before,
      after,
      rssPerStream: per('rss'),
      heapPerStream: per('heapUsed'),
      externalPerStream: per('external'),
    };
  } finally {
    for (const handle of handles) handle.close();
    await server.stop();
    agent.destroy();
    // The naive server never aborted its upstream calls; they end with its process.
    await Promise.race([fake.settled(), sleep(10_000)]);
    fake.setDefault({ faultRate: 0 });
    fake.reset();
  }
}

export async function runStreaming(profile: Profile): Promise<ScenarioResult> {
  const startedAt = performance.now();
  const rounds = sized(profile, { full: 5, quick: 1 });
  const streamsPerRound = sized(profile, { full: 100, quick: 20, smoke: 5 });
  const memoryRounds = sized(profile, { full: 3, quick: 1 });
  const openStreams = sized(profile, { full: 1_000, quick: 300, smoke: 50 });
  const replyWords = 20;
  const tokenDelayMs = 2;

  const fake = await createFakeAnthropic({ replyWords, tokenDelayMs });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latency: Record<Variant, LatencyRound[]> = { 'naive pipe': [], 'guard passthrough': [] };
  const memory: Record<Variant, MemoryRound[]> = { 'naive pipe': [], 'guard passthrough': [] };
  try {
    const server = await forkChild<ServerReady>(SERVER, { upstream: fake.url, bareMaxRetries: 0 });
    const instrument = recordUpstreamWrites();
    try {
      for (const variant of VARIANTS) await latencyRound(server.ready.express, variant, 10, instrument.writes, agent);
      for (let round = 0; round < rounds; round++) {
        for (const variant of rotated(VARIANTS, round)) {
          latency[variant].push(
            await latencyRound(server.ready.express, variant, streamsPerRound, instrument.writes, agent),
          );
          fake.reset();
        }
      }
    } finally {
      instrument.restore();
      agent.destroy();
      await server.stop();
    }
    for (let round = 0; round < memoryRounds; round++) {
      for (const variant of rotated(VARIANTS, round))
        memory[variant].push(await memoryRound(fake, variant, openStreams));
    }
  } finally {
    await fake.close();
  }

  const pick = (v: Variant, f: (r: LatencyRound) => number) => spread(latency[v].map(f));
  const delta = (f: (r: LatencyRound) => number) =>
    spread(latency['guard passthrough'].map((r, i) => f(r) - f(latency['naive pipe'][i]!)));
  const ttfbP99Delta = delta((r) => r.ttfbMs.p99);
  const eventP99Delta = delta((r) => r.perEventMs.p99);
  const kib = (bytes: number[]) => spread(bytes.map((b) => b / 1024));
  const rssPerStream = (v: Variant) => kib(memory[v].map((m) => m.rssPerStream));

  const latencyRows = VARIANTS.map((v) => [
    v,
    fmtSpread(pick(v, (r) => r.ttfbMs.p50)),
    fmtSpread(pick(v, (r) => r.ttfbMs.p99)),
    fmtSpread(pick(v, (r) => r.perEventMs.p50)),
    fmtSpread(pick(v, (r) => r.perEventMs.p99)),
    String(latency[v].reduce((n, r) => n + r.failed + r.mismatched, 0)),
  ]);
  latencyRows.push([
    'guard - naive',
    `${fmtSpread(delta((r) => r.ttfbMs.p50))} ms`,
    `${fmtSpread(ttfbP99Delta)} ms`,
    `${fmtSpread(delta((r) => r.perEventMs.p50))} ms`,
    `${fmtSpread(eventP99Delta)} ms`,
    '',
  ]);
  const memoryRows = VARIANTS.map((v) => [
    v,
    String(Math.min(...memory[v].map((m) => m.opened))),
    fmtSpread(rssPerStream(v), 1),
    fmtSpread(kib(memory[v].map((m) => m.heapPerStream)), 1),
    fmtSpread(kib(memory[v].map((m) => m.externalPerStream)), 1),
    fmtSpread(spread(memory[v].map((m) => m.before.rss / 2 ** 20)), 0),
    fmtSpread(spread(memory[v].map((m) => m.after.rss / 2 ** 20)), 0),
  ]);

  const targets: TargetCheck[] = [
    {
      target: 'TTFB p99 within +1 ms of the naive pipe',
      measured: `${fmt(ttfbP99Delta.median)} ms`,
      met: ttfbP99Delta.median <= 1,
    },
    {
      target: 'per-event p99 within +1 ms of the naive pipe',
      measured: `${fmt(eventP99Delta.median)} ms`,
      met: eventP99Delta.median <= 1,
    },
    {
      target: `<= 64 KiB RSS per open stream (${openStreams} streams)`,
      measured: `${fmt(rssPerStream('guard passthrough').median, 1)} KiB`,
      met: rssPerStream('guard passthrough').median <= 64,
    },
  ];

  return {
    id: 3,
    name: 'Streaming cost: guard passthrough vs naive SDK pipe (Express)',
    config: {
      rounds,
      streamsPerRound,
      memoryRounds,
      openStreams,
      upstream: `fake-anthropic in the driver process; ${replyWords} words, ${tokenDelayMs} ms between deltas`,
      latencyClient: 'one stream at a time over a keep-alive connection',
      perEventLatency:
        'time the end user receives an event minus the time the fake wrote it (same process, same clock); ping excluded (the SDK drops it)',
      memory:
        'fresh server process per variant and round (--expose-gc); RSS after GC with N streams open (each stalled after its first delta) minus RSS after GC before them, divided by N',
      guardOptions: 'defaults',
    },
    tables: [
      {
        title: `Latency at the end user, ${rounds} rounds x ${streamsPerRound} streams per variant; median (min to max) over rounds`,
        columns: ['variant', 'TTFB p50 ms', 'TTFB p99 ms', 'per-event p50 ms', 'per-event p99 ms', 'failed'],
        rows: latencyRows,
      },
      {
        title: `Memory of the server process with ${openStreams} open streams, ${memoryRounds} round(s) per variant`,
        columns: [
          'variant',
          'streams open',
          'RSS KiB/stream',
          'heap KiB/stream',
          'external KiB/stream',
          'RSS before MiB',
          'RSS after MiB',
        ],
        rows: memoryRows,
      },
    ],
    targets,
    notes: [
      'TTFB: from the end user sending the request to receiving the first SSE event (message_start). The guard commits a stream at the first upstream data event, the naive pipe at the first event too.',
    ],
    figures: { latency, memory },
    durationMs: performance.now() - startedAt,
  };
}

// Scenario 10: fleet mode. (a) Four replicas of examples/express, each its own process, behind a
// round-robin open-loop load, during a full outage of the upstream (100 % 529) and its recovery:
// each replica on its own (per-process breakers and retry budget) against fleet mode on one real
// redis-server (CLAUDE_GUARD_REDIS_URL). (b) What fleet mode adds to a request on a healthy
// upstream: two guards in this process, one with an in-memory store (fleet mode, syncing in the
// background) and one without, called alternately.
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, createMemoryStore, sdkOptions, type ClaudeGuard } from '@claude-guard/core';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chatParams } from '../lib/fixtures.js';
import { sleep } from '../lib/ipc.js';
import { gc, rotated, sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult, TargetCheck } from '../lib/report.js';
import { dist, fmt, fmtPercent, fmtSpread, spread } from '../lib/stats.js';

const MODES = ['per-process', 'fleet'] as const;
type Mode = (typeof MODES)[number];
const REPLICAS = 4;
const VOLUME = 20;
const SYNC_MS = 250;
const root = fileURLToPath(new URL('../../', import.meta.url));

interface OutageRun {
  /** Upstream calls from the outage's start until `resetTimeout` later (before any half-open trial could go). */
  callsBeforeStop: number;
  /** Upstream calls per user request during the outage. */
  amplification: number;
  /** Upstream calls during the whole outage. */
  outageCalls: number;
  outageUsers: number;
  /** From the upstream's recovery to the send time of the last user request that still failed (0: none did). */
  recoveryMs: number;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** A redis-server of the bench's own on a free port, without persistence; `stop()` ends it. */
async function startRedisServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(
    process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const exited = once(child, 'exit');
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (!output.includes('Ready to accept connections')) return;
      child.stdout.off('data', onData);
      child.stdout.resume();
      resolve();
    };
    child.stdout.on('data', onData);
    child.once('exit', () => reject(new Error(`redis-server exited:\n${output}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Starts examples/express as its own process; resolves with its URL and a kill() of its process group. */
async function startReplica(env: Record<string, string>): Promise<{ url: string; kill(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(`${root}examples/express/node_modules/.bin/tsx`, ['src/main.ts'], {
    cwd: `${root}examples/express`,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', OTEL_EXPORTER_OTLP_ENDPOINT: '' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(-child.pid!, 'SIGKILL');
    await exited;
  };
  let head = '';
  child.stderr.resume();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica printed no URL:\n${head}`)), 60_000);
    const onData = (chunk: Buffer) => {
      head += chunk.toString();
      if (!head.includes('listening on')) return;
      clearTimeout(timer);
      // Its per-request log lines are drained and dropped: a full pipe would block it.
      child.stdout.off('data', onData);
      child.stdout.resume();
      resolve();
    };
    child.stdout.on('data', onData);
  }).catch(async (error: unknown) => {
    await kill();
    throw error;
  });
  return { url: `http://127.0.0.1:${port}`, kill };
}

/** Waits until the replica answers /guard/status, and in fleet mode says its store is connected. */
async function waitConnected(url: string, mode: Mode): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const status = (await (await fetch(`${url}/guard/status`)).json()) as { store?: { connected: boolean } };
    if (mode === 'per-process' || status.store?.connected === true) return;
    await sleep(50);
  }
  throw new Error(`${url}: the store never connected`);
}

interface Sent {
  at: number;
  status: number;
}

/** Open-loop load: `ratePerSec` requests a second, round-robin over `urls`, for `durationMs`. */
async function openLoop(urls: readonly string[], ratePerSec: number, durationMs: number): Promise<Sent[]> {
  const sent: Promise<Sent>[] = [];
  const start = performance.now();
  const body = JSON.stringify({
    model: 'claude-sonnet-5',
    max_tokens: 16,
    messages: [{ role: 'user', content: 'hi' }],
  });
  for (let i = 0; performance.now() - start < durationMs; i++) {
    const due = start + (i * 1000) / ratePerSec;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const at = performance.now();
    sent.push(
      fetch(`${urls[i % urls.length]!}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'unused' },
        body,
        signal: AbortSignal.timeout(30_000),
      }).then(
        async (response) => {
          await response.arrayBuffer();
          return { at, status: response.status };
        },
        () => ({ at, status: 0 }),
      ),
    );
  }
  return Promise.all(sent);
}

async function outageRun(
  mode: Mode,
  fake: FakeAnthropic,
  redisUrl: string,
  prefix: string,
  timing: { outageMs: number; recoveryMs: number; resetMs: number },
  ratePerSec: number,
): Promise<OutageRun> {
  const env: Record<string, string> = {
    ANTHROPIC_BASE_URL: fake.url,
    ANTHROPIC_API_KEY: 'sk-ant-bench-fleet',
    CLAUDE_GUARD_BREAKER_VOLUME: String(VOLUME),
    CLAUDE_GUARD_BREAKER_RESET_MS: String(timing.resetMs),
    CLAUDE_GUARD_BREAKER_WINDOW_MS: '10000',
    ...(mode === 'fleet' && {
      CLAUDE_GUARD_REDIS_URL: redisUrl,
      CLAUDE_GUARD_REDIS_PREFIX: prefix,
      CLAUDE_GUARD_FLEET_SYNC_MS: String(SYNC_MS),
    }),
  };
  fake.setDefault({ faultRate: 0 });
  const replicas = await Promise.all(Array.from({ length: REPLICAS }, () => startReplica(env)));
  try {
    const urls = replicas.map((r) => r.url);
    // No warm-up traffic: a window full of successes would hide what volumeThreshold does (both modes
    // would wait for the error percentage). The outage starts on idle replicas, their store connected.
    for (const url of urls) await waitConnected(url, mode);
    fake.reset();
    const outageAt = performance.now();
    fake.setDefault({ faultRate: 1, fault: 529 });
    const running = openLoop(urls, ratePerSec, timing.outageMs + timing.recoveryMs);
    await sleep(timing.outageMs);
    const recoveredAt = performance.now();
    fake.setDefault({ faultRate: 0 });
    const sent = await running;
    const arrivals = fake.requests.map((r) => r.arrivedAt);
    const outageCalls = arrivals.filter((t) => t >= outageAt && t < recoveredAt).length;
    const outageUsers = sent.filter((s) => s.at >= outageAt && s.at < recoveredAt).length;
    const failedAfter = sent.filter((s) => s.at >= recoveredAt && s.status !== 200).map((s) => s.at);
    return {
      callsBeforeStop: arrivals.filter((t) => t >= outageAt && t < outageAt + timing.resetMs).length,
      outageCalls,
      outageUsers,
      amplification: outageCalls / Math.max(1, outageUsers),
      recoveryMs: failedAfter.length === 0 ? 0 : Math.max(...failedAfter) - recoveredAt,
    };
  } finally {
    await Promise.all(replicas.map((r) => r.kill()));
  }
}

/** Wall time of `calls` sequential guard.run calls per guard, alternating between the two guards. */
async function latencyRun(
  guards: Record<Mode, ClaudeGuard>,
  call: (guard: ClaudeGuard) => Promise<unknown>,
  calls: number,
  round: number,
): Promise<Record<Mode, number[]>> {
  const times: Record<Mode, number[]> = { 'per-process': [], fleet: [] };
  for (let i = 0; i < calls; i++) {
    for (const mode of rotated(MODES, round + i)) {
      const start = performance.now();
      await call(guards[mode]);
      times[mode].push(performance.now() - start);
    }
  }
  return times;
}

export async function runFleet(profile: Profile): Promise<ScenarioResult> {
  const startedAt = performance.now();
  const rounds = sized(profile, { full: 2, quick: 1 });
  const timing = {
    outageMs: sized(profile, { full: 8_000, quick: 4_000 }),
    recoveryMs: sized(profile, { full: 6_000, quick: 4_000 }),
    resetMs: sized(profile, { full: 3_000, quick: 1_500 }),
  };
  // A modest rate, where volumeThreshold decides when a breaker opens, and a high one, where the sync's staleness shows.
  const rates = [25, 100] as const;
  const latencyCalls = sized(profile, { full: 3_000, quick: 500 });

  const [redis, fake] = await Promise.all([startRedisServer(), createFakeAnthropic()]);
  const outage: Record<string, OutageRun[]> = {};
  const runsOf = (mode: Mode, rate: number) => (outage[`${mode} ${rate}/s`] ??= []);
  const latency: Record<'noop' | 'sdk', Record<Mode, { p50: number[]; p99: number[] }>> = {
    noop: { 'per-process': { p50: [], p99: [] }, fleet: { p50: [], p99: [] } },
    sdk: { 'per-process': { p50: [], p99: [] }, fleet: { p50: [], p99: [] } },
  };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const rate of rates) {
        for (const mode of rotated(MODES, round)) {
          runsOf(mode, rate).push(await outageRun(mode, fake, redis.url, `bench-fleet-${round}-${rate}`, timing, rate));
        }
      }
    }

    fake.setDefault({ faultRate: 0 });
    const client = new Anthropic({ apiKey: 'sk-ant-bench-fleet', baseURL: fake.url, maxRetries: 0 });
    const guards: Record<Mode, ClaudeGuard> = {
      'per-process': createClaudeGuard({ client }),
      fleet: createClaudeGuard({ client, store: createMemoryStore() }),
    };
    const message = { id: 'msg_bench' };
    const calls = {
      noop: (guard: ClaudeGuard) => guard.run('chat', () => Promise.resolve(message)),
      sdk: (guard: ClaudeGuard) =>
        guard.run('chat', (attempt) => client.messages.create(chatParams('hi'), sdkOptions(attempt))),
    };
    try {
      for (let round = 0; round < rounds; round++) {
        for (const kind of ['noop', 'sdk'] as const) {
          await latencyRun(guards, calls[kind], Math.ceil(latencyCalls / 10), round); // warm-up
          gc();
          const times = await latencyRun(guards, calls[kind], latencyCalls, round);
          for (const mode of MODES) {
            const d = dist(times[mode]);
            latency[kind][mode].p50.push(d.p50);
            latency[kind][mode].p99.push(d.p99);
          }
        }
      }
    } finally {
      for (const guard of Object.values(guards)) guard.close();
    }
  } finally {
    await Promise.all([fake.close(), redis.stop()]);
  }

  const figure = (mode: Mode, rate: number, pick: (run: OutageRun) => number) => spread(runsOf(mode, rate).map(pick));
  const added = (kind: 'noop' | 'sdk', p: 'p50' | 'p99') =>
    spread(latency[kind].fleet[p].map((v, i) => v - latency[kind]['per-process'][p][i]!));
  const addedSdkP50 = added('sdk', 'p50');
  const before = (mode: Mode, rate: number) => figure(mode, rate, (r) => r.callsBeforeStop);
  const targets: TargetCheck[] = [
    {
      target: `fleet: fewer upstream calls before the fleet stops than ${REPLICAS} replicas on their own (${rates[0]} requests/s)`,
      measured: `${fmtSpread(before('fleet', rates[0]), 0)} fleet vs ${fmtSpread(before('per-process', rates[0]), 0)} per process (volumeThreshold ${VOLUME})`,
      met: before('fleet', rates[0]).median < before('per-process', rates[0]).median,
    },
    {
      target: 'fleet mode adds <= 0.2 ms per request at p50 (in-memory store, healthy upstream)',
      measured: `${fmtSpread(addedSdkP50, 3, ' ms')} (SDK over HTTP); ${fmtSpread(added('noop', 'p50'), 4, ' ms')} (no-op call)`,
      met: addedSdkP50.median <= 0.2,
    },
  ];
  return {
    id: 10,
    name: 'Fleet mode: four replicas in an outage, and the cost per request',
    config: {
      rounds,
      rates,
      replicas: REPLICAS,
      volumeThreshold: VOLUME,
      syncIntervalMs: SYNC_MS,
      ...timing,
      latencyCalls,
    },
    tables: [
      {
        title: `Full outage at ${REPLICAS} replica processes (examples/express), open-loop round-robin load; median (range) over ${rounds} round(s)`,
        columns: [
          'mode',
          'requests/s',
          'upstream calls before the fleet stops',
          'upstream calls in the outage',
          'amplification (calls per request)',
          'recovery (ms)',
        ],
        rows: rates.flatMap((rate) =>
          MODES.map((mode) => [
            mode,
            String(rate),
            fmtSpread(before(mode, rate), 0),
            fmtSpread(
              figure(mode, rate, (r) => r.outageCalls),
              0,
            ),
            fmtSpread(
              figure(mode, rate, (r) => r.amplification),
              2,
            ),
            fmtSpread(
              figure(mode, rate, (r) => r.recoveryMs),
              0,
            ),
          ]),
        ),
      },
      {
        title: `Per request, healthy upstream, ${latencyCalls} sequential calls per guard and round (ms)`,
        columns: ['call', 'per-process p50', 'fleet p50', 'added p50', 'per-process p99', 'fleet p99'],
        rows: (['sdk', 'noop'] as const).map((kind) => [
          kind === 'sdk' ? 'guard.run + SDK to fake-anthropic (HTTP)' : 'guard.run(() => value)',
          fmt(spread(latency[kind]['per-process'].p50).median, 4),
          fmt(spread(latency[kind].fleet.p50).median, 4),
          fmtSpread(added(kind, 'p50'), 4),
          fmt(spread(latency[kind]['per-process'].p99).median, 4),
          fmt(spread(latency[kind].fleet.p99).median, 4),
        ]),
      },
    ],
    targets,
    notes: [
      `"Before the fleet stops": upstream calls in the outage's first resetTimeout (${timing.resetMs} ms), before any half-open trial could go; retries (the examples' default 3 attempts) included.`,
      `Fleet mode syncs every ${SYNC_MS} ms; a replica learns the fleet's counts and the open hint within one sync, so the fleet figure is about volumeThreshold plus what the fleet sends (retries included) in one to two sync intervals: fleet mode's bounded staleness.`,
      ...rates.map(
        (rate) =>
          `At ${rate} requests/s, fleet mode saves ${fmtPercent(1 - figure('fleet', rate, (r) => r.outageCalls).median / Math.max(1, figure('per-process', rate, (r) => r.outageCalls).median))} of the outage's upstream calls.`,
      ),
    ],
    figures: { outage, latency },
    durationMs: performance.now() - startedAt,
  };
}

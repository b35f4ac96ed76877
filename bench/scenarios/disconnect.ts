// Scenario 5: the end user closes a stream mid-way; how long until the upstream request is aborted?
// fake-anthropic runs in this process next to the end-user client, so the close time and the fake's
// `abortedAt` come from the same clock (performance.now()).
import { createFakeAnthropic } from '@claude-guard/fake-anthropic';
import { Agent } from 'node:http';
import type { ServerReady } from '../procs/server.js';
import { streamBody } from '../lib/fixtures.js';
import { forkChild, sleep } from '../lib/ipc.js';
import { rotated, sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult } from '../lib/report.js';
import { openSse } from '../lib/sse-client.js';
import { dist, fmt, fmtPercent, fmtSpread, spread, type Dist } from '../lib/stats.js';

const VARIANTS = [
  'guard passthrough (Express)',
  'guard passthrough (Hono)',
  'naive SDK passthrough (Express)',
] as const;
type Variant = (typeof VARIANTS)[number];

interface DisconnectRound {
  /** Upstream requests aborted, of those whose user left. */
  aborted: number;
  total: number;
  /** close -> upstream abort, for the aborted ones. */
  abortMs: Dist;
  /** close -> upstream end, for the ones that ran on. */
  ranOnMs: Dist;
  failed: number;
}

export async function runDisconnect(profile: Profile): Promise<ScenarioResult> {
  const startedAt = performance.now();
  const rounds = sized(profile, { full: 5, quick: 1 });
  const perRound = sized(profile, { full: 15, quick: 8, smoke: 3 });
  const replyWords = 40;
  const tokenDelayMs = 10;
  const closeAfterDeltas = 3;

  const fake = await createFakeAnthropic({ replyWords, tokenDelayMs });
  const server = await forkChild<ServerReady>(new URL('../procs/server.ts', import.meta.url), {
    upstream: fake.url,
    bareMaxRetries: 0,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const url: Record<Variant, string> = {
    'guard passthrough (Express)': `${server.ready.express}/v1/messages`,
    'guard passthrough (Hono)': `${server.ready.hono}/v1/messages`,
    'naive SDK passthrough (Express)': `${server.ready.express}/naive/v1/messages`,
  };
  const results: Record<Variant, DisconnectRound[]> = {
    'guard passthrough (Express)': [],
    'guard passthrough (Hono)': [],
    'naive SDK passthrough (Express)': [],
  };

  const one = async (variant: Variant): Promise<{ abortMs?: number; ranOnMs?: number } | undefined> => {
    const index = fake.requests.length;
    let closedAt = 0;
    let deltas = 0;
    const handle = openSse({
      url: url[variant],
      body: streamBody(100),
      agent,
      timeoutMs: 10_000,
      onEvent: (event) => {
        if (event.type === 'content_block_delta' && (deltas += 1) === closeAfterDeltas) closedAt = handle.close();
      },
    });
    const result = await handle.result;
    if (closedAt === 0 || result.status !== 200) return undefined;
    // Wait for the upstream request to end: aborted by the server, or finished generating (bounded).
    for (let waited = 0; waited < 5_000 && fake.requests[index]?.outcome === 'pending'; waited += 2) await sleep(2);
    const record = fake.requests[index];
    if (!record || record.outcome === 'pending') return undefined;
    if (record.outcome === 'client-aborted') return { abortMs: record.abortedAt! - closedAt };
    return { ranOnMs: record.endedAt! - closedAt };
  };

  try {
    for (const variant of VARIANTS) await one(variant);
    for (let round = 0; round < rounds; round++) {
      for (const variant of rotated(VARIANTS, round)) {
        const abort: number[] = [];
        const ranOn: number[] = [];
        let failed = 0;
        for (let i = 0; i < perRound; i++) {
          const outcome = await one(variant);
          if (outcome?.abortMs !== undefined) abort.push(outcome.abortMs);
          else if (outcome?.ranOnMs !== undefined) ranOn.push(outcome.ranOnMs);
          else failed += 1;
        }
        results[variant].push({
          aborted: abort.length,
          total: abort.length + ranOn.length,
          abortMs: dist(abort),
          ranOnMs: dist(ranOn),
          failed,
        });
        await fake.settled();
        fake.reset();
      }
    }
  } finally {
    agent.destroy();
    await server.stop();
    await fake.close();
  }

  const rows = VARIANTS.map((v) => {
    const runs = results[v];
    const aborted = runs.reduce((n, r) => n + r.aborted, 0);
    const total = runs.reduce((n, r) => n + r.total, 0);
    return [
      v,
      `${aborted}/${total} (${fmtPercent(aborted / Math.max(1, total), 0)})`,
      fmtSpread(spread(runs.map((r) => r.abortMs.p50))),
      fmtSpread(spread(runs.map((r) => r.abortMs.p99))),
      fmtSpread(spread(runs.map((r) => r.ranOnMs.p50)), 0),
      String(runs.reduce((n, r) => n + r.failed, 0)),
    ];
  });
  const guardP99 = (v: Variant) => spread(results[v].map((r) => r.abortMs.p99));
  const allAborted = (v: Variant) => results[v].every((r) => r.aborted === r.total && r.total > 0);

  return {
    id: 5,
    name: 'Disconnect cost: end user closes mid-stream',
    config: {
      rounds,
      perRound,
      upstream: `fake-anthropic in the driver process; ${replyWords} words, ${tokenDelayMs} ms between deltas`,
      closeAfter: `${closeAfterDeltas} content_block_delta events received`,
      guardOptions: 'defaults',
    },
    tables: [
      {
        title: `${rounds} round(s) x ${perRound} streams per variant, one at a time; median (min to max) over rounds`,
        columns: [
          'variant',
          'upstream aborted',
          'close to abort p50 ms',
          'close to abort p99 ms',
          'upstream ran on after close, p50 ms',
          'failed',
        ],
        rows,
      },
    ],
    targets: (['guard passthrough (Express)', 'guard passthrough (Hono)'] as const).map((v) => ({
      target: `${v}: upstream aborted, p99 <= 50 ms after the user closes`,
      measured: `${fmt(guardP99(v).median)} ms${allAborted(v) ? '' : ' (not every upstream request was aborted)'}`,
      met: guardP99(v).median <= 50 && allAborted(v),
    })),
    notes: [
      'The naive passthrough never aborts: the upstream keeps generating (and billing) the rest of the reply after the user has gone.',
    ],
    figures: { results },
    durationMs: performance.now() - startedAt,
  };
}

// Scenario 6: deadline accuracy (the caller sends `x-request-timeout-ms: 200`, the upstream stalls)
// over real sockets, and how fast an open breaker rejects (in-process).
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, isClaudeGuardError, type AttemptContext } from '@claude-guard/core';
import { createFakeAnthropic, type FaultInput } from '@claude-guard/fake-anthropic';
import { circuitBreaker, ConsecutiveBreaker, handleAll } from 'cockatiel';
import CircuitBreaker from 'opossum';
import { Agent } from 'node:http';
import type { ServerReady } from '../procs/server.js';
import { CHAT_BODY, chatParams, streamBody } from '../lib/fixtures.js';
import { forkChild, sleep } from '../lib/ipc.js';
import { rotated, sized, type Profile } from '../lib/profile.js';
import type { ScenarioResult, TargetCheck } from '../lib/report.js';
import { openSse, postJson } from '../lib/sse-client.js';
import { dist, fmt, type Dist } from '../lib/stats.js';

const DEADLINE_MS = 200;

interface DeadlineCase {
  name: string;
  fault: FaultInput;
  expected: string;
  once: (base: ServerReady, agent: Agent) => Promise<{ elapsedMs: number; outcome: string }>;
}

const CASES: DeadlineCase[] = [
  {
    name: 'chat route (claudeGuard + messages.create), upstream never sends headers',
    fault: { kind: 'stall' },
    expected: '504',
    once: async (base, agent) => {
      const r = await postJson(
        `${base.express}/guard/chat`,
        CHAT_BODY,
        { 'x-request-timeout-ms': String(DEADLINE_MS) },
        5_000,
        agent,
      );
      return { elapsedMs: r.elapsedMs, outcome: String(r.status) };
    },
  },
  {
    name: 'passthrough stream, upstream stalls before its first event',
    fault: { kind: 'stall', afterEvents: 0 },
    expected: '504',
    once: async (base, agent) => {
      const r = await openSse({
        url: `${base.express}/v1/messages`,
        body: streamBody(),
        headers: { 'x-request-timeout-ms': String(DEADLINE_MS) },
        agent,
        timeoutMs: 5_000,
      }).result;
      return { elapsedMs: r.endedAt - r.startedAt, outcome: String(r.status) };
    },
  },
  {
    name: 'passthrough stream, upstream stalls after its first delta (committed)',
    fault: { kind: 'stall', afterEvents: 4 },
    expected: '200 + event: error',
    once: async (base, agent) => {
      const r = await openSse({
        url: `${base.express}/v1/messages`,
        body: streamBody(),
        headers: { 'x-request-timeout-ms': String(DEADLINE_MS) },
        agent,
        timeoutMs: 5_000,
      }).result;
      const last = r.events[r.events.length - 1]?.type;
      return {
        elapsedMs: r.endedAt - r.startedAt,
        outcome: `${r.status}${last === 'error' ? ' + event: error' : ` (last event ${last ?? 'none'})`}`,
      };
    },
  },
];

const OVERLOADED = JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });

/** In-process fast-fail: per-call latency of a rejected call with the breaker open. */
async function fastFail(samplesPerRound: number, rounds: number) {
  const client = new Anthropic({
    apiKey: 'x',
    maxRetries: 0,
    fetch: () =>
      Promise.resolve(
        new Response(OVERLOADED, {
          status: 529,
          headers: { 'content-type': 'application/json', 'request-id': 'req_1' },
        }),
      ),
  });
  const params = chatParams('hello bench');
  let upstreamCalls = 0;
  const call = ({ signal, timeout }: AttemptContext) => {
    upstreamCalls += 1;
    return client.messages.create(params, { signal, timeout, maxRetries: 0 });
  };
  // Default breaker; tiny retry waits only so forcing it open takes milliseconds.
  const guard = createClaudeGuard({ client, retry: { baseDelayMs: 1, maxDelayMs: 2 } });
  const opossum = new CircuitBreaker(() => client.messages.create(params));
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) });
  const noop = () => undefined;
  try {
    for (let i = 0; i < 100 && guard.status().breakers.every((b) => b.state !== 'open'); i++) {
      await guard.run('fast-fail', call).catch(noop);
    }
    const open = guard.status().breakers.some((b) => b.state === 'open');
    opossum.open();
    cockatiel.isolate();
    const callsWhenOpen = upstreamCalls;
    let notBreakerOpen = 0;
    const variants = {
      'guard.run': async () => {
        try {
          await guard.run('fast-fail', call);
        } catch (error) {
          if (!isClaudeGuardError(error) || error.outcome !== 'breaker-open') notBreakerOpen += 1;
        }
      },
      'opossum fire (opened)': () => opossum.fire().then(noop, noop),
      'cockatiel execute (isolated)': () => cockatiel.execute(() => client.messages.create(params)).then(noop, noop),
    };
    type Name = keyof typeof variants;
    const samples: Record<Name, number[]> = {
      'guard.run': [],
      'opossum fire (opened)': [],
      'cockatiel execute (isolated)': [],
    };
    const names = Object.keys(variants) as Name[];
    for (const name of names) for (let i = 0; i < 500; i++) await variants[name](); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (const name of rotated(names, round)) {
        for (let i = 0; i < samplesPerRound; i++) {
          const t0 = performance.now();
          await variants[name]();
          samples[name].push(performance.now() - t0);
        }
      }
    }
    return {
      open,
      upstreamCallsWhileOpen: upstreamCalls - callsWhenOpen,
      notBreakerOpen,
      dists: Object.fromEntries(names.map((n) => [n, dist(samples[n])])) as Record<Name, Dist>,
    };
  } finally {
    guard.close();
    opossum.shutdown();
  }
}

export async function runDeadline(profile: Profile): Promise<ScenarioResult> {
  const startedAt = performance.now();
  const rounds = sized(profile, { full: 5, quick: 2, smoke: 1 });
  const perRound = sized(profile, { full: 40, quick: 15, smoke: 5 });
  // A new request every 20 ms: about 10 in flight, their deadlines expiring one after another.
  const spacingMs = 20;
  const fastFailSamples = sized(profile, { full: 5_000, quick: 2_000, smoke: 200 });

  const fake = await createFakeAnthropic();
  const server = await forkChild<ServerReady>(new URL('../procs/server.ts', import.meta.url), {
    upstream: fake.url,
    bareMaxRetries: 0,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const overshoot: number[][] = CASES.map(() => []);
  const outcomes: Record<string, number>[] = CASES.map(() => ({}));
  const spaced = async (c: DeadlineCase, count: number) => {
    const running: Promise<{ elapsedMs: number; outcome: string }>[] = [];
    for (let i = 0; i < count; i++) {
      running.push(c.once(server.ready, agent));
      await sleep(spacingMs);
    }
    return Promise.all(running);
  };
  try {
    for (const c of CASES) {
      fake.setDefault({ faultRate: 1, fault: c.fault });
      await spaced(c, 5); // warm-up
    }
    for (let round = 0; round < rounds; round++) {
      for (const index of rotated([...CASES.keys()], round)) {
        const c = CASES[index]!;
        fake.setDefault({ faultRate: 1, fault: c.fault });
        for (const r of await spaced(c, perRound)) {
          overshoot[index]!.push(r.elapsedMs - DEADLINE_MS);
          outcomes[index]![r.outcome] = (outcomes[index]![r.outcome] ?? 0) + 1;
        }
        await fake.settled();
        fake.reset();
      }
    }
  } finally {
    agent.destroy();
    await server.stop();
    await fake.close();
  }
  const ff = await fastFail(fastFailSamples, rounds);

  const deadlineDists = overshoot.map((values) => dist(values));
  const worstP99 = Math.max(...deadlineDists.map((d) => d.p99));
  const guardFf = ff.dists['guard.run'];
  const targets: TargetCheck[] = [
    {
      target: `response time - deadline, p99 <= 25 ms (worst case of ${CASES.length})`,
      measured: `${fmt(worstP99)} ms`,
      met: worstP99 <= 25,
    },
    {
      target: 'reject with the breaker open, p99 <= 1 ms',
      measured: ff.open ? `${fmt(guardFf.p99 * 1000, 0)} us` : 'breaker did not open',
      met: ff.open ? guardFf.p99 <= 1 : null,
    },
  ];

  return {
    id: 6,
    name: 'Deadline accuracy and fast-fail',
    config: {
      deadlineHeader: `x-request-timeout-ms: ${DEADLINE_MS}`,
      rounds,
      requestsPerCasePerRound: perRound,
      arrivals: `one request every ${spacingMs} ms (about ${Math.round(DEADLINE_MS / spacingMs)} in flight)`,
      guardOptions: "defaults (deadline.reserveMs 5: the guard answers 5 ms before the caller's deadline)",
      fastFail: `in-process; guard with default breaker (retry waits 1-2 ms only to open it fast), ${rounds} rounds x ${fastFailSamples} calls per variant`,
    },
    tables: [
      {
        title: `Response time minus the caller's ${DEADLINE_MS} ms deadline (Express, upstream stalls), ${rounds} rounds x ${perRound} requests, one every ${spacingMs} ms; all samples pooled`,
        columns: ['case', 'answers', 'p50 ms', 'p99 ms', 'max ms'],
        rows: CASES.map((c, i) => [
          c.name,
          Object.entries(outcomes[i]!)
            .map(([k, n]) => `${n} x ${k}`)
            .join(', '),
          fmt(deadlineDists[i]!.p50),
          fmt(deadlineDists[i]!.p99),
          fmt(deadlineDists[i]!.max),
        ]),
      },
      {
        title: `Time to reject with the breaker open (in-process), ${rounds} rounds x ${fastFailSamples} calls, all samples pooled`,
        columns: ['variant', 'p50 us', 'p90 us', 'p99 us', 'max us'],
        rows: Object.entries(ff.dists).map(([name, d]) => [
          name,
          fmt(d.p50 * 1000, 1),
          fmt(d.p90 * 1000, 1),
          fmt(d.p99 * 1000, 1),
          fmt(d.max * 1000, 0),
        ]),
      },
    ],
    targets,
    notes: [
      `Expected answers: ${CASES.map((c) => c.expected).join('; ')}. Negative values: answered before the deadline (the guard keeps deadline.reserveMs back to write the answer).`,
      `Fast-fail: breaker open: ${ff.open}; upstream calls while open: ${ff.upstreamCallsWhileOpen}; rejections that were not 'breaker-open': ${ff.notBreakerOpen}.`,
    ],
    figures: {
      overshootMs: Object.fromEntries(CASES.map((c, i) => [c.name, deadlineDists[i]])),
      outcomes,
      fastFail: ff,
    },
    durationMs: performance.now() - startedAt,
  };
}

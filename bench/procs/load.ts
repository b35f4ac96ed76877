// The load generator, in its own process: autocannon for closed-loop throughput runs, and an
// open-loop client (fixed arrival rate, whatever the server does) for the outage runs.
import autocannon from 'autocannon';
import { Agent, request } from 'node:http';
import { serveParent, sleep, wallNow } from '../lib/ipc.js';
import { dist, type Dist } from '../lib/stats.js';

export interface CannonParams {
  url: string;
  body: string;
  headers: Record<string, string>;
  connections: number;
  durationSec: number;
  /** Requests per second over all connections; omitted: as fast as the server answers. */
  overallRate?: number;
}

export interface CannonResult {
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  durationSec: number;
  /** 2xx answers per second. */
  rps: number;
  /** 2xx latencies in ms, with sub-ms resolution (autocannon's own histogram rounds to whole ms). */
  latency: Dist;
}

export interface OpenLoopParams {
  url: string;
  /** `{i}` is replaced by the request's index, so upstream attempts can be traced to their user request. */
  body: string;
  headers: Record<string, string>;
  ratePerSec: number;
  durationMs: number;
  /** Per request. */
  timeoutMs: number;
}

/** One entry per user request, as parallel arrays; `status` 0 is a connection error or timeout. */
export interface OpenLoopResult {
  sentAt: number[];
  status: number[];
  latencyMs: number[];
}

const MAX_SAMPLES = 2_000_000;

function cannon(params: CannonParams): Promise<CannonResult> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: params.url,
        method: 'POST',
        headers: params.headers,
        body: params.body,
        connections: params.connections,
        duration: params.durationSec,
        timeout: 10,
        ...(params.overallRate !== undefined && { overallRate: params.overallRate }),
      },
      (error, result) => {
        if (error) {
          reject(error);
          return;
        }
        const ok = latencies.length;
        resolve({
          ok,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          durationSec: result.duration,
          rps: ok / result.duration,
          latency: dist(latencies),
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
      if (statusCode >= 200 && statusCode < 300 && latencies.length < MAX_SAMPLES) latencies.push(responseTimeMs);
    });
  });
}

async function openLoop(params: OpenLoopParams): Promise<OpenLoopResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const target = new URL(params.url);
  const total = Math.max(1, Math.round((params.ratePerSec * params.durationMs) / 1000));
  const intervalMs = 1000 / params.ratePerSec;
  const result: OpenLoopResult = { sentAt: [], status: [], latencyMs: [] };
  const inFlight: Promise<void>[] = [];

  const one = (index: number) =>
    new Promise<void>((resolve) => {
      const sentAt = wallNow();
      result.sentAt[index] = sentAt;
      const finish = (status: number) => {
        if (result.status[index] !== undefined) return;
        result.status[index] = status;
        result.latencyMs[index] = wallNow() - sentAt;
        resolve();
      };
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          agent,
          headers: params.headers,
        },
        (res) => {
          res.resume();
          res.on('end', () => finish(res.statusCode ?? 0));
          res.on('error', () => finish(0));
        },
      );
      req.setTimeout(params.timeoutMs, () => req.destroy(new Error('timeout')));
      req.on('error', () => finish(0));
      req.end(params.body.replace('{i}', String(index)));
    });

  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * intervalMs - performance.now();
    if (due > 0) await sleep(due);
    inFlight.push(one(i));
  }
  await Promise.race([Promise.all(inFlight), sleep(params.timeoutMs + 5_000)]);
  agent.destroy();
  // Anything still unanswered after its timeout counts as failed.
  for (let i = 0; i < total; i++) {
    if (result.status[i] === undefined) {
      result.status[i] = 0;
      result.latencyMs[i] = wallNow() - result.sentAt[i]!;
    }
  }
  return result;
}

serveParent({ pid: process.pid }, { cannon, openLoop }, () => undefined);

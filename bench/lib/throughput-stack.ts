// The processes of the throughput scenarios (2 and 8): fake-anthropic holding each answer `delayMs`
// before its headers, one server process per chat variant (as a real app runs one of them), and the
// load generator.
import type { FakeReady } from '../procs/fake.js';
import type { ChatVariant, ServerReady } from '../procs/server.js';
import { throughputFake } from './fixtures.js';
import { forkChild, type BenchChild } from './ipc.js';

export interface ThroughputStack<V extends string> {
  /** fake-anthropic; `reset` keeps its request log small between runs. */
  readonly fake: BenchChild<FakeReady>;
  readonly servers: Record<V, BenchChild<ServerReady>>;
  readonly load: BenchChild<unknown>;
}

/**
 * Forks the fake, a server per variant (serving only `serves[variant]`) and the load generator. Each
 * child is pushed to `children` as soon as it is up, so the caller's clean-up stops those already
 * forked if a later one fails.
 *
 * @example
 * ```ts
 * const children: BenchChild<unknown>[] = [];
 * const { servers, load } = await forkThroughputStack({ unguarded: 'bare', guarded: 'guard' }, 2, children);
 * ```
 */
export async function forkThroughputStack<V extends string>(
  serves: Record<V, ChatVariant>,
  delayMs: number,
  children: BenchChild<unknown>[],
): Promise<ThroughputStack<V>> {
  const fake = await forkChild<FakeReady>(new URL('../procs/fake.ts', import.meta.url), throughputFake(delayMs));
  children.push(fake);
  const servers = {} as Record<V, BenchChild<ServerReady>>;
  for (const variant of Object.keys(serves) as V[]) {
    servers[variant] = await forkChild<ServerReady>(new URL('../procs/server.ts', import.meta.url), {
      upstream: fake.ready.url,
      bareMaxRetries: 0,
      only: serves[variant],
    });
    children.push(servers[variant]);
  }
  const load = await forkChild<unknown>(new URL('../procs/load.ts', import.meta.url), {});
  children.push(load);
  return { fake, servers, load };
}

/**
 * The runtimes `pnpm test:runtimes` runs the Hono example on, how each is started (the example's own
 * package scripts, as a person would), and what each is documented not to do.
 */

/** The scenarios every runtime runs; the names the README's "Runtimes" table uses. */
export const SCENARIOS = [
  'json passthrough',
  'stream read by the SDK',
  '529 retried',
  'in-band overloaded first event retried invisibly',
  'stall ends in an in-band error within the idle timeout',
  'heartbeat while the upstream is slow to start',
  'client disconnect aborts the upstream',
  'breaker opens: 503 with retry-after',
  'breaker lets a trial through after resetTimeout',
  'breaker forgets failures older than its rolling window',
  'deadline header honoured: 504 on time',
  'malformed deadline header: 400 without calling the upstream',
  'a guard.middleware() client in a handler: request context, retries, deadline',
  'no key or base URL: the embedded fake behind the same routes, its demo faults included',
] as const;

export type Scenario = (typeof SCENARIOS)[number];

export interface RuntimeUnderTest {
  readonly name: 'node' | 'bun' | 'deno' | 'workerd';
  /** The script of examples/hono that starts the example on this runtime. */
  readonly script: 'start' | 'start:bun' | 'start:deno' | 'start:workerd';
  /**
   * Scenarios this runtime cannot pass as written, each with the reason the README gives. The suite
   * runs them all the same and asserts the documented behaviour instead (see scenarios.ts).
   */
  readonly limits: Partial<Record<Scenario, string>>;
}

export const RUNTIMES = {
  node: { name: 'node', script: 'start', limits: {} },
  bun: { name: 'bun', script: 'start:bun', limits: {} },
  deno: { name: 'deno', script: 'start:deno', limits: {} },
  // No limit left: the breaker's open -> half-open is computed from the clock when asked, so it needs
  // no timer outliving a request (workerd never fires one once its request has ended).
  workerd: { name: 'workerd', script: 'start:workerd', limits: {} },
} as const satisfies Record<string, RuntimeUnderTest>;

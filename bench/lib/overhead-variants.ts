// Scenario 1's variants: what each wraps and how, built lazily so that a process can build one
// variant alone (bench/procs/overhead-variant.ts: each variant in a process of its own) or all of
// them (the scenario's in-one-process cross-check).
import type Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, type HeaderReader } from '@claude-guard/core';
import {
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleAll,
  retry,
  timeout,
  TimeoutStrategy,
  wrap,
} from 'cockatiel';
import CircuitBreaker from 'opossum';
import { chatParams, inProcessClient, MESSAGE } from './fixtures.js';

const NO_HEADERS: HeaderReader = { get: () => null };

export const BARE = 'bare call';
/** The bare call given an AbortSignal (one that never aborts): the SDK's own work for a caller's signal. */
export const BARE_WITH_SIGNAL = 'bare call with an AbortSignal';
export const OPOSSUM = 'opossum fire';
export const COCKATIEL = 'cockatiel wrap(retry, breaker, timeout)';
export const GUARD_RUN = 'guard.run';
export const ROUTE_CREATE = 'route.begin + claude.messages.create';
/** The same variant on the pre-redesign core. */
export const before = (name: string): string => `${name} (before)`;

export type UpstreamKey = 'sdk' | 'noop';

/** What the core module gives the scenario; the current and the baseline core both have it. */
export interface CoreModule {
  createClaudeGuard: typeof createClaudeGuard;
}

type Guard = ReturnType<typeof createClaudeGuard>;
type Route = ReturnType<Guard['route']>;

/**
 * What the variants of one process share, each made on first use: the client, the guards, the
 * routes. A process that builds one variant makes only what that variant uses.
 */
export interface VariantContext {
  client(): Anthropic;
  guard(core: 'current' | 'before'): Guard;
  route(core: 'current' | 'before'): Route;
  /** Registers a clean-up for {@link close}. */
  onClose(cleanUp: () => void): void;
  /** Shuts down the breakers and closes the guards made so far. */
  close(): void;
}

/** @param oldCore The pre-redesign core, for the "(before)" variants. */
export function variantContext(oldCore?: CoreModule): VariantContext {
  const closers: (() => void)[] = [];
  const once = <T>(make: () => T): (() => T) => {
    let made: { value: T } | undefined;
    return () => (made ??= { value: make() }).value;
  };
  const client = once(() => inProcessClient());
  const makeGuard = (create: CoreModule['createClaudeGuard']) =>
    once(() => {
      const guard = create({ client: client() });
      closers.push(() => guard.close());
      return guard;
    });
  const guards = {
    current: makeGuard(createClaudeGuard),
    before: makeGuard((options) => {
      if (!oldCore) throw new Error('the "(before)" variants need the baseline core');
      return oldCore.createClaudeGuard(options);
    }),
  };
  const routes = {
    current: once(() => guards.current().route({ route: 'bench-begin' })),
    before: once(() => guards.before().route({ route: 'bench-begin' })),
  };
  return {
    client,
    guard: (core) => guards[core](),
    route: (core) => routes[core](),
    onClose: (cleanUp) => closers.push(cleanUp),
    close: () => {
      for (const cleanUp of closers.splice(0)) cleanUp();
    },
  };
}

/** One variant: its name and how to build its call (in the given context). */
export interface VariantSpec {
  name: string;
  build(ctx: VariantContext): () => Promise<unknown>;
}

// Library defaults, as a user would write them.
const policy = () =>
  wrap(
    retry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
    circuitBreaker(handleAll, { halfOpenAfter: 30_000, breaker: new ConsecutiveBreaker(5) }),
    timeout(60_000, TimeoutStrategy.Aggressive),
  );

const breaker = <A extends unknown[], R>(ctx: VariantContext, action: (...args: A) => Promise<R>) => {
  const made = new CircuitBreaker(action);
  ctx.onClose(() => made.shutdown());
  return made;
};

const params = chatParams('hello bench');
// Never aborted: the SDK adds and removes its listener on it each call, as it does on a request's signal.
const UNUSED_SIGNAL = new AbortController().signal;
const noop = () => Promise.resolve(MESSAGE);

const sdkRun = (ctx: VariantContext, core: 'current' | 'before') => {
  const guard = ctx.guard(core);
  const client = ctx.client();
  return () =>
    guard.run('bench', ({ signal, timeout }) => client.messages.create(params, { signal, timeout, maxRetries: 0 }));
};

const routeCreate = (ctx: VariantContext, core: 'current' | 'before') => {
  const route = ctx.route(core);
  return async () => {
    const begun = route.begin({ headers: NO_HEADERS });
    if (!begun.ok) throw begun.error;
    await begun.call.claude.messages.create(params);
    begun.call.end(200);
  };
};

/** The variants of one upstream, in table order; the "(before)" ones only `withBaseline`. */
export function variantSpecs(key: UpstreamKey, withBaseline: boolean): VariantSpec[] {
  if (key === 'sdk') {
    return [
      {
        name: BARE,
        build: (ctx) => {
          const client = ctx.client();
          return () => client.messages.create(params);
        },
      },
      {
        name: BARE_WITH_SIGNAL,
        build: (ctx) => {
          const client = ctx.client();
          return () => client.messages.create(params, { signal: UNUSED_SIGNAL });
        },
      },
      {
        name: OPOSSUM,
        build: (ctx) => {
          const client = ctx.client();
          const sdkBreaker = breaker(ctx, (p: Anthropic.MessageCreateParamsNonStreaming) => client.messages.create(p));
          return () => sdkBreaker.fire(params);
        },
      },
      {
        name: COCKATIEL,
        build: (ctx) => {
          const client = ctx.client();
          const sdkPolicy = policy();
          return () => sdkPolicy.execute(({ signal }) => client.messages.create(params, { signal }));
        },
      },
      { name: GUARD_RUN, build: (ctx) => sdkRun(ctx, 'current') },
      { name: ROUTE_CREATE, build: (ctx) => routeCreate(ctx, 'current') },
      ...(withBaseline
        ? [
            { name: before(GUARD_RUN), build: (ctx: VariantContext) => sdkRun(ctx, 'before') },
            { name: before(ROUTE_CREATE), build: (ctx: VariantContext) => routeCreate(ctx, 'before') },
          ]
        : []),
    ];
  }
  return [
    { name: BARE, build: () => noop },
    {
      name: OPOSSUM,
      build: (ctx) => {
        const noopBreaker = breaker(ctx, noop);
        return () => noopBreaker.fire();
      },
    },
    {
      name: COCKATIEL,
      build: () => {
        const noopPolicy = policy();
        return () => noopPolicy.execute(noop);
      },
    },
    {
      name: GUARD_RUN,
      build: (ctx) => {
        const guard = ctx.guard('current');
        return () => guard.run('bench-noop', noop);
      },
    },
    ...(withBaseline
      ? [
          {
            name: before(GUARD_RUN),
            build: (ctx: VariantContext) => {
              const guard = ctx.guard('before');
              return () => guard.run('bench-noop', noop);
            },
          },
        ]
      : []),
  ];
}

/** A chunk's totals in ns: wall time, and the process's CPU time (user + system, all threads). */
export interface ChunkCost {
  wall: number;
  cpu: number;
}

/** `calls` sequential awaited calls of `once`. */
export async function chunkCost(once: () => Promise<unknown>, calls: number): Promise<ChunkCost> {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await once();
  const wall = Number(process.hrtime.bigint() - started);
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) * 1000 };
}

import { afterEach, describe, expect, it } from 'vitest';
import type { ClaudeClient } from './claude-client.js';
import type { Instrumentation } from './instrumentation.js';
import { HEDGE_DEFAULTS } from './hedge.js';
import { createClaudeGuard, type ClaudeGuard } from './guard.js';
import {
  DEFAULTS,
  normalizeGuardOptions,
  normalizeRouteOptions,
  type ClaudeGuardOptions,
  type RouteOptions,
} from './options.js';

const client = { messages: { create: () => Promise.reject(new Error('not used')) } } as unknown as ClaudeClient;

const guards: ClaudeGuard[] = [];
afterEach(() => {
  for (const guard of guards.splice(0)) guard.close();
});

function makeGuard(options: Partial<ClaudeGuardOptions>): ClaudeGuard {
  const guard = createClaudeGuard({ client, ...options });
  guards.push(guard);
  return guard;
}

/** Asserts a TypeError whose message names the option in backquotes. */
function expectNamed(action: () => unknown, option: string): void {
  expect(action).toThrow(TypeError);
  expect(action).toThrow(`option \`${option}\``);
}

describe('guard options', () => {
  it('accepts no options but the client, and applies the documented defaults', () => {
    const config = normalizeGuardOptions({ client });
    expect(config.deadline).toEqual(DEFAULTS.deadline);
    expect(config.retry).toEqual(DEFAULTS.retry);
    expect(config.breaker).toEqual(DEFAULTS.breaker);
    expect(config.stream).toEqual(DEFAULTS.stream);
    expect(config.retryBudget).toEqual(DEFAULTS.retryBudget);
    expect(config.proxy).toEqual(DEFAULTS.proxy);
    expect(config.requestIdHeader).toBe('x-request-id');
    expect(config.forwardUpstreamClientErrors).toBe(false);
    expect(config.logFormat).toBe('auto');
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.retry)).toBe(true);
  });

  it('needs a client with messages.create', () => {
    expectNamed(() => makeGuard({ client: undefined as unknown as ClaudeClient }), 'client');
    expectNamed(() => makeGuard({ client: {} as ClaudeClient }), 'client');
    expect(() => createClaudeGuard(undefined as unknown as ClaudeGuardOptions)).toThrow('option `options`');
  });

  it.each<[string, Partial<ClaudeGuardOptions>]>([
    ['deadline.maxMs', { deadline: { maxMs: 0 } }],
    ['logFormat', { logFormat: 'text' as unknown as 'json' }],
    ['logger', { logger: { warn: () => undefined } as unknown as Console }],
    ['logger', { logger: 'console' as unknown as Console }],
    ['instrumentation', { instrumentation: {} as unknown as Instrumentation }],
    ['instrumentation', { instrumentation: (() => undefined) as unknown as Instrumentation }],
    ['deadline.maxMs', { deadline: { maxMs: Number.POSITIVE_INFINITY } }],
    ['deadline.defaultMs', { deadline: { defaultMs: -1 } }],
    ['deadline.defaultMs', { deadline: { defaultMs: Number.NaN } }],
    ['deadline.defaultMs', { deadline: { defaultMs: 5_000, maxMs: 1_000 } }],
    ['deadline.headers', { deadline: { headers: 'x-request-timeout-ms' as unknown as string[] } }],
    ['deadline.headers', { deadline: { headers: [''] } }],
    ['deadline.reserveMs', { deadline: { reserveMs: -5 } }],
    ['retry.maxAttempts', { retry: { maxAttempts: 0 } }],
    ['retry.maxAttempts', { retry: { maxAttempts: 2.5 } }],
    ['retry.baseDelayMs', { retry: { baseDelayMs: 0 } }],
    ['retry.maxDelayMs', { retry: { baseDelayMs: 100, maxDelayMs: 50 } }],
    ['retry.attemptTimeoutMs', { retry: { attemptTimeoutMs: 0 } }],
    ['breaker.errorThresholdPercentage', { breaker: { errorThresholdPercentage: 101 } }],
    ['breaker.errorThresholdPercentage', { breaker: { errorThresholdPercentage: Number.NaN } }],
    ['breaker.volumeThreshold', { breaker: { volumeThreshold: -1 } }],
    ['breaker.volumeThreshold', { breaker: { volumeThreshold: 2.5 } }],
    ['breaker.rollingCountTimeout', { breaker: { rollingCountTimeout: 10_001 } }],
    ['breaker.rollingCountBuckets', { breaker: { rollingCountBuckets: 0 } }],
    ['breaker.resetTimeout', { breaker: { resetTimeout: 0 } }],
    ['breaker.resetTimeout', { breaker: { resetTimeout: 1.5 } }],
    ['breaker.minTrialBudgetMs', { breaker: { minTrialBudgetMs: -1 } }],
    ['breaker.minTrialBudgetMs', { breaker: { minTrialBudgetMs: Number.NaN } }],
    ['breaker.minTrialBudgetMs', { deadline: { defaultMs: 1_000 }, breaker: { minTrialBudgetMs: 501 } }],
    ['breaker.countRateLimits', { breaker: { countRateLimits: 'yes' as unknown as boolean } }],
    ['breaker.enabled', { breaker: { enabled: 1 as unknown as boolean } }],
    ['stream.firstEventTimeoutMs', { stream: { firstEventTimeoutMs: 0 } }],
    ['stream.idleTimeoutMs', { stream: { idleTimeoutMs: -1 } }],
    ['stream.heartbeatMs', { stream: { heartbeatMs: Number.NaN } }],
    ['stream.maxEventBytes', { stream: { maxEventBytes: 0.5 } }],
    ['proxy.maxBodyBytes', { proxy: { maxBodyBytes: 0 } }],
    ['proxy.allowedModels', { proxy: { allowedModels: 'claude-sonnet-5' as unknown as string[] } }],
    ['proxy.allowedModels', { proxy: { allowedModels: [42] as unknown as string[] } }],
    ['proxy.maxTokensCap', { proxy: { maxTokensCap: 0 } }],
    ['proxy.forwardUpstreamClientErrors', { proxy: { forwardUpstreamClientErrors: 'no' as unknown as boolean } }],
    ['requestIdHeader', { requestIdHeader: 'x request id' }],
    ['requestIdHeader', { requestIdHeader: '' }],
    ['random', { random: 0.5 as unknown as () => number }],
  ])('rejects a bad %s with a TypeError naming it', (option, options) => {
    expectNamed(() => makeGuard(options), option);
  });

  it.each([
    ['percentCanRetry', { percentCanRetry: -0.1 }],
    ['minRetriesPerSecond', { minRetriesPerSecond: Number.NaN }],
    ['ttlMs', { ttlMs: 0 }],
  ])('rejects a bad retryBudget.%s with a TypeError naming it', (option, retryBudget) => {
    expect(() => makeGuard({ retryBudget })).toThrow(TypeError);
    expect(() => makeGuard({ retryBudget })).toThrow(option);
  });

  it('shows the bad value in the message', () => {
    expect(() => makeGuard({ retry: { maxAttempts: 0 } })).toThrow(
      'claude-guard: option `retry.maxAttempts` must be a positive integer, got 0',
    );
  });

  it('accepts the edges of each range', () => {
    const config = normalizeGuardOptions({
      client,
      deadline: { defaultMs: 1_000, maxMs: 1_000, reserveMs: 0, headers: ['X-Budget-Ms'] },
      retry: { maxAttempts: 1, baseDelayMs: 5, maxDelayMs: 5, attemptTimeoutMs: undefined },
      breaker: { errorThresholdPercentage: 0, volumeThreshold: 0, rollingCountTimeout: 1_000, rollingCountBuckets: 1 },
      proxy: { allowedModels: [], maxTokensCap: 1 },
      retryBudget: false,
    });
    expect(config.deadline.headers).toEqual(['x-budget-ms']);
    expect(config.retry.maxAttempts).toBe(1);
    expect(config.breaker.volumeThreshold).toBe(0);
    expect(config.proxy.allowedModels?.size).toBe(0);
    expect(config.retryBudget).toBe(false);
  });

  it('a guard-level maxMs below the default deadline lowers the default to it', () => {
    expect(normalizeGuardOptions({ client, deadline: { maxMs: 5_000 } }).deadline).toMatchObject({
      defaultMs: 5_000,
      maxMs: 5_000,
    });
  });
});

describe('route options', () => {
  const guardConfig = normalizeGuardOptions({ client, retry: { maxAttempts: 4 }, deadline: { defaultMs: 20_000 } });

  it.each<[string, RouteOptions]>([
    ['route', { route: '' }],
    ['route', { route: 'has space' }],
    ['route', { route: 'x'.repeat(101) }],
    ['route', { route: 5 as unknown as string }],
    ['breaker.key', { route: 'chat', breaker: { key: '' } }],
    ['fallback.model', { route: 'chat', fallback: { model: 5 } as unknown as { model: string } }],
    ['fallback', { route: 'chat', fallback: 'claude-haiku-4-5' as unknown as { model: string } }],
    ['fallback', { route: 'chat', fallback: [] }],
    ['fallback[1].client', { route: 'chat', fallback: [{ model: 'a' }, { model: 'b', client: {} as never }] }],
    ['fallback[0].maxAttempts', { route: 'chat', fallback: [{ model: 'a', maxAttempts: 0 }] }],
    ['fallback[1].breakerKey', { route: 'chat', fallback: [{ model: 'a' }, { model: 'a' }] }],
    ['fallback.model', { route: 'chat', fallback: { model: 'two\nlines' } }],
    ['stream.hedge', { route: 'chat', stream: { hedge: true as unknown as false } }],
    ['stream.hedge.delay', { route: 'chat', stream: { hedge: { delay: -1 } } }],
    ['stream.hedge.delay', { route: 'chat', stream: { hedge: { delay: 'p99' as 'p95' } } }],
    ['stream.hedge.maxHedges', { route: 'chat', stream: { hedge: { delay: 10, maxHedges: 1.5 } } }],
    ['retry.maxAttempts', { route: 'chat', retry: { maxAttempts: -1 } }],
    ['deadline.defaultMs', { route: 'chat', deadline: { defaultMs: 2_000, maxMs: 1_000 } }],
    ['breaker.volumeThreshold', { route: 'chat', breaker: { volumeThreshold: 0.5 } }],
    ['breaker.minTrialBudgetMs', { route: 'chat', deadline: { defaultMs: 1_000 }, breaker: { minTrialBudgetMs: 800 } }],
    ['proxy.maxBodyBytes', { route: 'chat', proxy: { maxBodyBytes: -1 } }],
    ['forwardUpstreamClientErrors', { route: 'chat', forwardUpstreamClientErrors: 'yes' as unknown as boolean }],
  ])('rejects a bad %s with a TypeError naming it, through guard.route()', (option, options) => {
    const guard = makeGuard({});
    expectNamed(() => guard.route(options), option);
    expectNamed(() => normalizeRouteOptions(guardConfig, options), option);
  });

  it("starts from the guard's values, route values winning", () => {
    const route = normalizeRouteOptions(guardConfig, { route: 'chat', retry: { baseDelayMs: 7, maxDelayMs: 70 } });
    expect(route.retry).toEqual({ maxAttempts: 4, baseDelayMs: 7, maxDelayMs: 70, attemptTimeoutMs: undefined });
    expect(route.deadline.defaultMs).toBe(20_000);
    expect(route.breaker.key).toBe('chat');
    expect(normalizeRouteOptions(guardConfig, { route: 'a', breaker: { key: 'shared' } }).breaker.key).toBe('shared');
  });

  it('a route maximum below the inherited default lowers the default to it', () => {
    const route = normalizeRouteOptions(guardConfig, { route: 'quick', deadline: { maxMs: 250 } });
    expect(route.deadline).toMatchObject({ defaultMs: 250, maxMs: 250 });
  });

  it('an inherited minTrialBudgetMs is lowered to half of a shorter default deadline; an explicit one is kept', () => {
    expect(normalizeGuardOptions({ client, deadline: { defaultMs: 1_200 } }).breaker.minTrialBudgetMs).toBe(600);
    expect(normalizeRouteOptions(guardConfig, { route: 'a' }).breaker.minTrialBudgetMs).toBe(1_000);
    const quick = normalizeRouteOptions(guardConfig, { route: 'quick', deadline: { defaultMs: 50 } });
    expect(quick.breaker.minTrialBudgetMs).toBe(25);
    const explicit = { route: 'b', deadline: { defaultMs: 1_000 }, breaker: { minTrialBudgetMs: 500 } };
    expect(normalizeRouteOptions(guardConfig, explicit).breaker.minTrialBudgetMs).toBe(500);
    expect(normalizeRouteOptions(guardConfig, { route: 'c', breaker: { minTrialBudgetMs: 0 } }).breaker).toMatchObject({
      minTrialBudgetMs: 0,
    });
  });

  it("forwards upstream 4xx messages on a guarded route only when it or the guard opts in, apart from the passthrough's", () => {
    expect(normalizeRouteOptions(guardConfig, { route: 'a' })).toMatchObject({
      forwardUpstreamClientErrors: false,
      proxy: { forwardUpstreamClientErrors: true },
    });
    const optedIn = normalizeGuardOptions({ client, forwardUpstreamClientErrors: true });
    expect(normalizeRouteOptions(optedIn, { route: 'a' }).forwardUpstreamClientErrors).toBe(true);
    expect(
      normalizeRouteOptions(optedIn, { route: 'b', forwardUpstreamClientErrors: false }).forwardUpstreamClientErrors,
    ).toBe(false);
    expectNamed(
      () => normalizeGuardOptions({ client, forwardUpstreamClientErrors: 1 as unknown as boolean }),
      'forwardUpstreamClientErrors',
    );
  });

  it('a route may clear an inherited attemptTimeoutMs or maxTokensCap', () => {
    const base = normalizeGuardOptions({ client, retry: { attemptTimeoutMs: 500 }, proxy: { maxTokensCap: 100 } });
    const route = normalizeRouteOptions(base, {
      route: 'long',
      retry: { attemptTimeoutMs: undefined },
      proxy: { maxTokensCap: undefined },
    });
    expect(route.retry.attemptTimeoutMs).toBeUndefined();
    expect(route.proxy.maxTokensCap).toBeUndefined();
    expect(normalizeRouteOptions(base, { route: 'short' }).retry.attemptTimeoutMs).toBe(500);
  });

  it('accepts both fallback forms', () => {
    expect(
      normalizeRouteOptions(guardConfig, { route: 'a', fallback: { model: 'claude-haiku-4-5' } }).fallback,
    ).toEqual({
      model: 'claude-haiku-4-5',
    });
    const fn = () => ({});
    expect(normalizeRouteOptions(guardConfig, { route: 'b', fallback: fn }).fallback).toBe(fn);
  });

  it('normalizes fallback targets: a list in order, one attempt and a breaker of its own each by default', () => {
    const client = { messages: { create: () => undefined } } as never;
    const config = normalizeRouteOptions(guardConfig, {
      route: 'chat',
      fallback: [
        { client, model: 'claude-sonnet-5', maxAttempts: 2 },
        { model: 'claude-haiku-4-5', breakerKey: 'h' },
      ],
    });
    expect(config.fallbackTargets).toEqual([
      { model: 'claude-sonnet-5', client, maxAttempts: 2, breakerKey: 'chat:fallback:claude-sonnet-5' },
      { model: 'claude-haiku-4-5', client: undefined, maxAttempts: 1, breakerKey: 'h' },
    ]);
    expect(normalizeRouteOptions(guardConfig, { route: 'b', fallback: () => ({}) }).fallbackTargets).toEqual([]);
  });

  it('normalizes stream.hedge with its defaults; off unless asked for', () => {
    expect(normalizeRouteOptions(guardConfig, { route: 'a' }).stream.hedge).toBe(false);
    expect(
      normalizeRouteOptions(guardConfig, { route: 'a', stream: { hedge: { delay: 'p95' } } }).stream.hedge,
    ).toEqual({ delay: 'p95', ...HEDGE_DEFAULTS });
    expect(() => normalizeRouteOptions(guardConfig, { route: 'a', stream: { hedge: { dealy: 5 } as never } })).toThrow(
      'unknown option `stream.hedge.dealy`',
    );
  });
});

describe('unknown options', () => {
  /** Options with a key the types do not know, as a JavaScript caller or a cast would pass them. */
  const loose = <T>(options: object): T => options as T;

  it.each<[string, object, string]>([
    ['a top-level key', { retrys: {} }, 'unknown option `retrys` in createClaudeGuard(); did you mean `retry`?'],
    [
      'a nested key',
      { breaker: { resetTimout: 10_000 } },
      'unknown option `breaker.resetTimout` in createClaudeGuard(); did you mean `breaker.resetTimeout`?',
    ],
    [
      'a key in another case',
      { deadline: { defaultms: 1_000 } },
      'unknown option `deadline.defaultms` in createClaudeGuard(); did you mean `deadline.defaultMs`?',
    ],
    [
      'a prefix of a key',
      { stream: { heartbeat: 1_000 } },
      'unknown option `stream.heartbeat` in createClaudeGuard(); did you mean `stream.heartbeatMs`?',
    ],
    [
      'a word of the same stem',
      { retries: { maxAttempts: 2 } },
      'unknown option `retries` in createClaudeGuard(); did you mean `retry`?',
    ],
    [
      'a retry budget key',
      { retryBudget: { ttl: 1_000 } },
      'unknown option `retryBudget.ttl` in createClaudeGuard(); did you mean `retryBudget.ttlMs`?',
    ],
    [
      'a route-only key on the guard',
      { breaker: { key: 'shared' } },
      'unknown option `breaker.key` in createClaudeGuard(); `breaker.key` is a route option',
    ],
  ])('rejects %s on the guard, naming its full path and the closest known key', (_, options, message) => {
    expect(() => makeGuard(loose(options))).toThrow(TypeError);
    expect(() => makeGuard(loose(options))).toThrow(message);
  });

  it('names what the level takes when no known key is close', () => {
    const action = (): unknown => makeGuard(loose({ proxy: { banana: true } }));
    expect(action).toThrow(
      'claude-guard: unknown option `proxy.banana` in createClaudeGuard(); `proxy` takes `maxBodyBytes`, ' +
        '`allowedModels`, `maxTokensCap`, `forwardUpstreamClientErrors`',
    );
    expect(action).not.toThrow('did you mean');
    // Short keys need a short distance: `foo` is not `key`.
    expect(() => makeGuard({}).route(loose({ route: 'chat', breaker: { foo: 1 } }))).toThrow(
      /unknown option `breaker\.foo` in route 'chat'; `breaker` takes `key`, /,
    );
    expect(() => makeGuard(loose({ timeout: 5 }))).toThrow(
      /unknown option `timeout` in createClaudeGuard\(\); createClaudeGuard\(\) takes `client`, `deadline`, /,
    );
  });

  it.each<[string, object, string]>([
    ['a top-level key', { route: 'chat', rout: 'x' }, "unknown option `rout` in route 'chat'; did you mean `route`?"],
    [
      'a nested key',
      { route: 'chat', retry: { maxAttempt: 2 } },
      "unknown option `retry.maxAttempt` in route 'chat'; did you mean `retry.maxAttempts`?",
    ],
    [
      'a fallback key',
      { route: 'chat', fallback: { modle: 'claude-haiku-4-5' } },
      "unknown option `fallback.modle` in route 'chat'; did you mean `fallback.model`?",
    ],
    [
      'a guard-only key on a route',
      { route: 'chat', retryBudget: false },
      "unknown option `retryBudget` in route 'chat'; `retryBudget` is an option of createClaudeGuard()",
    ],
    ['a misspelled route name key', { rout: 'chat' }, 'unknown option `rout` in route options; did you mean `route`?'],
  ])('rejects %s on a route, through guard.route() too', (_, options, message) => {
    const guardConfig = normalizeGuardOptions({ client });
    expect(() => normalizeRouteOptions(guardConfig, loose(options))).toThrow(TypeError);
    expect(() => normalizeRouteOptions(guardConfig, loose(options))).toThrow(message);
    expect(() => makeGuard({}).route(loose(options))).toThrow(message);
  });

  it('rejects an options group that is not an object, naming it', () => {
    expectNamed(() => makeGuard(loose({ deadline: 5_000 })), 'deadline');
    expectNamed(() => makeGuard(loose({ retry: [] })), 'retry');
    expectNamed(() => makeGuard(loose({ retryBudget: true })), 'retryBudget');
    expectNamed(() => makeGuard({}).route(loose({ route: 'chat', breaker: null })), 'breaker');
    expect(() => makeGuard({}).route('chat' as unknown as RouteOptions)).toThrow(
      "option `options` must be an object like { route: 'chat' }",
    );
  });

  it('accepts every documented key at every level, functions and user objects as they are', () => {
    const guard = makeGuard({
      deadline: { defaultMs: 10_000, maxMs: 20_000, headers: ['x-budget-ms'], reserveMs: 1 },
      retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20, attemptTimeoutMs: 1_000 },
      retryBudget: { percentCanRetry: 0.1, minRetriesPerSecond: 1, ttlMs: 1_000, now: () => 0 },
      breaker: {
        errorThresholdPercentage: 40,
        volumeThreshold: 5,
        rollingCountTimeout: 1_000,
        rollingCountBuckets: 10,
        resetTimeout: 5_000,
        minTrialBudgetMs: 100,
        countRateLimits: true,
        enabled: true,
      },
      stream: { firstEventTimeoutMs: 1_000, idleTimeoutMs: 1_000, heartbeatMs: 500, maxEventBytes: 1_024 },
      proxy: { maxBodyBytes: 1_024, allowedModels: ['m'], maxTokensCap: 10, forwardUpstreamClientErrors: false },
      forwardUpstreamClientErrors: true,
      // A logger carries its own keys; they are not options.
      logger: Object.assign(Object.create(console) as Console, { level: 'debug' }),
      logFormat: 'json',
      onEvent: () => undefined,
      requestIdHeader: 'x-correlation-id',
      random: () => 0.5,
    });
    expect(() =>
      guard.route({
        route: 'chat',
        deadline: { defaultMs: 5_000 },
        retry: { maxAttempts: 1 },
        breaker: { key: 'chat-key', resetTimeout: 1_000 },
        stream: { heartbeatMs: 1_000 },
        proxy: { maxTokensCap: 5 },
        forwardUpstreamClientErrors: false,
        fallback: { model: 'claude-haiku-4-5' },
      }),
    ).not.toThrow();
  });
});

describe('mounted routes', () => {
  it('refuses a route name mounted twice with different options objects', () => {
    const guard = makeGuard({});
    guard.route({ route: 'chat' });
    expect(() => guard.route({ route: 'chat' })).toThrow(TypeError);
    expect(() => guard.route({ route: 'chat', retry: { maxAttempts: 1 } })).toThrow(
      "claude-guard: route 'chat' is mounted twice with different options objects; give each route its own name, " +
        'or pass the same options object to share one route (one handler on two paths)',
    );
  });

  it('accepts the same options object again (one handler on two paths), and routes of other names', () => {
    const guard = makeGuard({});
    const options: RouteOptions = { route: 'chat', breaker: { resetTimeout: 5_000 } };
    const first = guard.route(options);
    const second = guard.route(options);
    expect(second.name).toBe('chat');
    expect(second.name).toBe(first.name);
    // One route: one breaker, with the options object's settings.
    expect(guard.status().breakers.find((b) => b.key === 'chat')?.options.resetTimeout).toBe(5_000);
    expect(() => guard.route({ route: 'chat-2', breaker: { resetTimeout: 5_000 } })).not.toThrow();
    expect(guard.status().breakers.map((b) => [b.key, b.routes])).toEqual([
      ['chat', ['chat']],
      ['chat-2', ['chat-2']],
    ]);
  });

  it('a refused route leaves nothing behind: no breaker, no name', () => {
    const guard = makeGuard({});
    guard.route({ route: 'a', breaker: { key: 'shared', resetTimeout: 1_000 } });
    expect(() => guard.route({ route: 'b', breaker: { key: 'shared' } })).toThrow(TypeError);
    expect(guard.status().breakers).toEqual([expect.objectContaining({ key: 'shared', routes: ['a'] })]);
    expect(() => guard.route({ route: 'b' })).not.toThrow();
  });

  it('refuses routes sharing a breaker key with different breaker options, naming both routes, the key and the option', () => {
    const guard = makeGuard({});
    guard.route({ route: 'summarize', breaker: { key: 'claude-main', resetTimeout: 10_000 } });
    expect(() => guard.route({ route: 'tips', breaker: { key: 'claude-main' } })).toThrow(
      "claude-guard: routes 'summarize' and 'tips' share breaker key 'claude-main' with different breaker options: " +
        "`breaker.resetTimeout` is 10000 on 'summarize' and 30000 on 'tips'. Routes sharing a breaker must give it " +
        'the same options (one shared breaker object), or use different keys',
    );
    // Every differing option is named.
    expect(() =>
      guard.route({ route: 'other', breaker: { key: 'claude-main', resetTimeout: 10_000, volumeThreshold: 3 } }),
    ).toThrow("`breaker.volumeThreshold` is 10 on 'summarize' and 3 on 'other'");
    // A route's name is its breaker's key unless it names another.
    guard.route({ route: 'solo', breaker: { resetTimeout: 1_000 } });
    expect(() => guard.route({ route: 'joins-solo', breaker: { key: 'solo' } })).toThrow(
      "routes 'solo' and 'joins-solo' share breaker key 'solo'",
    );
  });

  it('accepts routes sharing a breaker key with equal options, however they were written', () => {
    const guard = makeGuard({ breaker: { resetTimeout: 10_000 } });
    guard.route({ route: 'a', breaker: { key: 'shared' } });
    guard.route({ route: 'b', breaker: { key: 'shared', resetTimeout: 10_000 } });
    guard.route({ route: 'c', breaker: { key: 'shared', resetTimeout: 10_000, volumeThreshold: 10 } });
    expect(guard.status().breakers).toEqual([expect.objectContaining({ key: 'shared', routes: ['a', 'b', 'c'] })]);
  });

  it('a route with its breaker off shares nothing, so its options cannot conflict', () => {
    const guard = makeGuard({});
    guard.route({ route: 'a', breaker: { key: 'shared', resetTimeout: 1_000 } });
    expect(() => guard.route({ route: 'b', breaker: { key: 'shared', enabled: false } })).not.toThrow();
  });

  it("names an inherited minTrialBudgetMs lowered by a route's shorter deadline", () => {
    const guard = makeGuard({});
    guard.route({ route: 'a', breaker: { key: 'shared' } });
    expect(() => guard.route({ route: 'b', deadline: { defaultMs: 1_000 }, breaker: { key: 'shared' } })).toThrow(
      "`breaker.minTrialBudgetMs` is 1000 on 'a' and 500 on 'b' (unless set, at most half of the route's deadline.defaultMs)",
    );
  });

  describe('guard.run by name', () => {
    const ok = (): Promise<string> => Promise.resolve('done');

    it('reuses the route mounted under that name', async () => {
      const guard = makeGuard({});
      const mounted = guard.route({ route: 'report', breaker: { resetTimeout: 5_000 } });
      await expect(guard.run('report', ok)).resolves.toBe('done');
      await expect(guard.run('report', ok)).resolves.toBe('done');
      await expect(guard.run(mounted, ok)).resolves.toBe('done');
      expect(guard.status().breakers).toEqual([
        expect.objectContaining({
          key: 'report',
          routes: ['report'],
          options: expect.objectContaining({ resetTimeout: 5_000 }),
        }),
      ]);
    });

    it("creates a route with the guard's defaults once for an unknown name, and reuses it", async () => {
      const guard = makeGuard({});
      await expect(guard.run('nightly', ok)).resolves.toBe('done');
      await expect(guard.run('nightly', ok)).resolves.toBe('done');
      expect(guard.status().breakers).toEqual([expect.objectContaining({ key: 'nightly', routes: ['nightly'] })]);
    });

    it("never trips a check: a name whose key another route's breaker uses with other options shares it as it is", async () => {
      const guard = makeGuard({});
      guard.route({ route: 'tips', breaker: { key: 'summarize', resetTimeout: 1_000 } });
      await expect(guard.run('summarize', ok)).resolves.toBe('done');
      expect(guard.status().breakers).toEqual([
        expect.objectContaining({ key: 'summarize', routes: ['tips', 'summarize'] }),
      ]);
    });

    it('a route mounted after guard.run created its name is refused, saying why', async () => {
      const guard = makeGuard({});
      await guard.run('late', ok);
      expect(() => guard.route({ route: 'late' })).toThrow(
        "claude-guard: route 'late' is mounted after guard.run('late') created it with the guard's defaults; " +
          "mount it before the first guard.run('late'), or give it another name",
      );
      expect(() => guard.route({ route: 'other', breaker: { key: 'late', resetTimeout: 1_000 } })).toThrow(
        "routes 'late' (created with the guard's defaults by guard.run) and 'other' share breaker key 'late'",
      );
    });
  });
});

describe('admission options', () => {
  it('defaults to no concurrency limit and rate-limit awareness on', () => {
    const config = normalizeGuardOptions({ client });
    expect(config.concurrency).toEqual(DEFAULTS.concurrency);
    expect(config.rateLimits).toEqual(DEFAULTS.rateLimits);
  });

  it.each([
    [{ concurrency: { maxConcurrency: 0 } }, 'concurrency.maxConcurrency'],
    [{ concurrency: { maxConcurrency: 1.5 } }, 'concurrency.maxConcurrency'],
    [{ concurrency: { maxQueue: -1 } }, 'concurrency.maxQueue'],
    [{ concurrency: { lane: 'urgent' } }, 'concurrency.lane'],
    [{ concurrency: { batchMaxWaitMs: -1 } }, 'concurrency.batchMaxWaitMs'],
    [{ concurrency: { queueFullRetryAfterMs: 0 } }, 'concurrency.queueFullRetryAfterMs'],
    [{ rateLimits: { enabled: 'yes' } }, 'rateLimits.enabled'],
    [{ rateLimits: { reserve: { requests: -1 } } }, 'rateLimits.reserve.requests'],
    [{ rateLimits: { spendLimitHoldMs: Number.NaN } }, 'rateLimits.spendLimitHoldMs'],
    [{ rateLimits: { maxClients: 0 } }, 'rateLimits.maxClients'],
    [{ rateLimits: { reserve: { request: 1 } } }, 'rateLimits.reserve.request'],
    [{ concurrency: { maxConcurent: 1 } }, 'concurrency.maxConcurent'],
  ])('rejects %j naming %s', (options, option) => {
    expect(() => makeGuard(options as Partial<ClaudeGuardOptions>)).toThrow(`\`${option}\``);
  });

  it('inherits the guard concurrency per route; a route may lift the limit with undefined', () => {
    const guard = normalizeGuardOptions({ client, concurrency: { maxConcurrency: 4, lane: 'batch' } });
    expect(normalizeRouteOptions(guard, { route: 'a' }).concurrency).toMatchObject({
      maxConcurrency: 4,
      lane: 'batch',
    });
    expect(
      normalizeRouteOptions(guard, { route: 'b', concurrency: { maxConcurrency: undefined } }).concurrency,
    ).toMatchObject({ maxConcurrency: undefined });
    expect(() => normalizeRouteOptions(guard, { route: 'c', rateLimits: {} } as unknown as RouteOptions)).toThrow(
      '`rateLimits` is an option of createClaudeGuard()',
    );
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { ClaudeClient } from './claude-client.js';
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
    ['fallback', { route: 'chat', fallback: { model: 5 } as unknown as { model: string } }],
    ['fallback', { route: 'chat', fallback: 'claude-haiku-4-5' as unknown as { model: string } }],
    ['retry.maxAttempts', { route: 'chat', retry: { maxAttempts: -1 } }],
    ['deadline.defaultMs', { route: 'chat', deadline: { defaultMs: 2_000, maxMs: 1_000 } }],
    ['breaker.volumeThreshold', { route: 'chat', breaker: { volumeThreshold: 0.5 } }],
    ['breaker.minTrialBudgetMs', { route: 'chat', deadline: { defaultMs: 1_000 }, breaker: { minTrialBudgetMs: 800 } }],
    ['proxy.maxBodyBytes', { route: 'chat', proxy: { maxBodyBytes: -1 } }],
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
});

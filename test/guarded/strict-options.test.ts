import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard, type ClaudeGuard, type ClaudeGuardOptions, type RouteOptions } from '@claude-guard/core';
import * as guardExpress from '@claude-guard/express';
import * as guardHono from '@claude-guard/hono';
import express from 'express';
import express4 from 'express4';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { ALL_ADAPTERS, NO_RESERVE, useStack, type AdapterName } from '../support/index.js';

/** Never called: every error here is thrown while the app is put together, before any request. */
const client = new Anthropic({ apiKey: 'test-key', baseURL: 'http://127.0.0.1:9' });

const guards: ClaudeGuard[] = [];
afterEach(() => {
  for (const guard of guards.splice(0)) guard.close();
});

function newGuard(): ClaudeGuard {
  const guard = createClaudeGuard({ client });
  guards.push(guard);
  return guard;
}

/** Options as a JavaScript caller (or a cast) passes them, with keys the types do not know. */
const loose = (options: object): RouteOptions => options as RouteOptions;

type Mount = (path: string, kind: 'guard' | 'proxy', options: RouteOptions) => void;

/** An app of the adapter on `guard`, and a way to mount routes on it as an application does. */
function appOf(adapter: AdapterName, guard: ClaudeGuard): Mount {
  if (adapter === 'hono') {
    const app = new Hono<{ Variables: guardHono.ClaudeGuardVariables }>();
    return (path, kind, options) => {
      if (kind === 'proxy') app.post(path, guardHono.claudeProxy(guard, options));
      else app.post(path, guardHono.claudeGuard(guard, options), (c) => c.json({}));
    };
  }
  const app = (adapter === 'express4' ? express4 : express)();
  return (path, kind, options) => {
    if (kind === 'proxy') app.post(path, guardExpress.claudeProxy(guard, options));
    else app.post(path, guardExpress.claudeGuard(guard, options), (_req, res) => res.json({}));
  };
}

describe('createClaudeGuard(): strict options', () => {
  it('refuses a misspelled option, naming its path and the closest known one', () => {
    const options = { client, breaker: { resetTimout: 10_000 } } as unknown as ClaudeGuardOptions;
    expect(() => createClaudeGuard(options)).toThrow(
      new TypeError(
        'claude-guard: unknown option `breaker.resetTimout` in createClaudeGuard(); did you mean `breaker.resetTimeout`?',
      ),
    );
  });
});

describe.each(ALL_ADAPTERS)('mounting routes on %s: strict options', (adapter) => {
  it.each(['guard', 'proxy'] as const)('claude%s() refuses a misspelled option at mount time', (kind) => {
    const mount = appOf(adapter, newGuard());
    expect(() => mount('/a', kind, loose({ route: 'chat', breaker: { resetTimout: 10_000 } }))).toThrow(
      new TypeError(
        "claude-guard: unknown option `breaker.resetTimout` in route 'chat'; did you mean `breaker.resetTimeout`?",
      ),
    );
    expect(() => mount('/b', kind, loose({ route: 'chat', retries: { maxAttempts: 2 } }))).toThrow(
      "unknown option `retries` in route 'chat'; did you mean `retry`?",
    );
    expect(() => mount('/c', kind, loose({ route: 'chat', proxy: { maxTokens: 10 } }))).toThrow(
      "unknown option `proxy.maxTokens` in route 'chat'; did you mean `proxy.maxTokensCap`?",
    );
  });

  it('refuses a route name mounted again with other options, on either kind of route', () => {
    const mount = appOf(adapter, newGuard());
    mount('/chat', 'guard', { route: 'chat' });
    const twice = "claude-guard: route 'chat' is mounted twice with different options objects";
    expect(() => mount('/chat-2', 'guard', { route: 'chat' })).toThrow(twice);
    expect(() => mount('/v1/messages', 'proxy', { route: 'chat' })).toThrow(twice);
  });

  it('refuses routes sharing a breaker key with different breaker options, naming both and the option', () => {
    const mount = appOf(adapter, newGuard());
    mount('/summarize', 'guard', { route: 'summarize', breaker: { key: 'claude-main', resetTimeout: 10_000 } });
    expect(() => mount('/v1/messages', 'proxy', { route: 'proxy', breaker: { key: 'claude-main' } })).toThrow(
      new TypeError(
        "claude-guard: routes 'summarize' and 'proxy' share breaker key 'claude-main' with different breaker " +
          "options: `breaker.resetTimeout` is 10000 on 'summarize' and 30000 on 'proxy'. Routes sharing a breaker " +
          'must give it the same options (one shared breaker object), or use different keys',
      ),
    );
    // The same breaker options (one object, or equal values) are fine.
    mount('/tips', 'guard', { route: 'tips', breaker: { key: 'claude-main', resetTimeout: 10_000 } });
  });
});

describe.each(ALL_ADAPTERS)('mounting routes on %s: what stays allowed', (adapter) => {
  const start = useStack(NO_RESERVE);

  it('one options object mounted on two paths is one route, answering on both', async () => {
    const shared: RouteOptions = { route: 'shared-chat', retry: { maxAttempts: 1 } };
    const h = await start(adapter, {
      routes: [
        { kind: 'chat', path: '/a', options: shared },
        { kind: 'chat', path: '/b', options: shared },
      ],
    });
    expect((await h.send('/a', { message: 'hi' })).status).toBe(200);
    expect((await h.send('/b', { message: 'hi' })).status).toBe(200);
    const breaker = h.guard.status().breakers.find((b) => b.key === 'shared-chat');
    expect(breaker).toMatchObject({ routes: ['shared-chat'], counts: { successes: 2 } });
  });

  it('a route name mounted twice with other options fails the app at start, before any request', async () => {
    await expect(
      start(adapter, {
        routes: [
          { kind: 'chat', path: '/a', options: { route: 'twice' } },
          { kind: 'chat', path: '/b', options: { route: 'twice' } },
        ],
      }),
    ).rejects.toThrow("route 'twice' is mounted twice with different options objects");
  });
});

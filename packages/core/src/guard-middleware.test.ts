import Anthropic, { APIError } from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { createClaudeGuard } from './guard.js';
import { ClaudeGuardError } from './guard-error.js';
import { claudeGuardErrorOf, rememberGuardError } from './guard-error-of.js';

const guard = () => createClaudeGuard({ client: new Anthropic({ apiKey: 'k', baseURL: 'http://127.0.0.1:9' }) });

describe('guard.middleware() options', () => {
  it('takes a route name or a route of this guard', () => {
    const g = guard();
    expect(typeof g.middleware({ route: 'summarize' })).toBe('function');
    expect(typeof g.middleware({ route: g.route({ route: 'tips' }) })).toBe('function');
  });

  it.each([
    [undefined, 'needs an options object with `route`'],
    [{}, 'option `route` of guard.middleware() must be a route name or a route of this guard, got undefined'],
    [{ route: '' }, 'option `route` of guard.middleware() must be'],
    [{ route: 'x', deadlineMs: 5 }, 'guard.middleware() has no option `deadlineMs`'],
  ])('refuses %j, naming the option', (options, message) => {
    expect(() => guard().middleware(options as never)).toThrow(message);
  });

  it("refuses another guard's route", () => {
    const other = guard().route({ route: 'elsewhere' });
    expect(() => guard().middleware({ route: other })).toThrow('option `route` must be a route of this guard');
  });
});

describe('guard.withContext()', () => {
  it.each([
    [{ deadlineMs: 0 }, 'option `deadlineMs` of guard.withContext() must be a positive number of milliseconds, got 0'],
    [{ deadlineMs: Number.NaN }, 'option `deadlineMs` of guard.withContext()'],
    [{ signal: 'stop' }, 'option `signal` of guard.withContext() must be an AbortSignal'],
    [{ requestId: 'a b\r\nx: y' }, 'option `requestId` of guard.withContext() must be a valid request id'],
    [{ timeoutMs: 5 }, 'guard.withContext() has no option `timeoutMs`'],
  ])('refuses %j, naming the option', (options, message) => {
    expect(() => guard().withContext(options as never, () => undefined)).toThrow(message);
  });

  it('gives the request id to the code it runs, and nothing after', async () => {
    const g = guard();
    const seen = await g.withContext({ requestId: 'job_42' }, async () => {
      await Promise.resolve();
      return g.requestId();
    });
    expect(seen).toBe('job_42');
    expect(g.requestId()).toBeUndefined();
  });

  it('keeps concurrent contexts apart', async () => {
    const g = guard();
    const tick = () => new Promise((resolve) => setTimeout(resolve, 1));
    const run = (id: string) =>
      g.withContext({ requestId: id }, async () => {
        const ids: (string | undefined)[] = [];
        for (let i = 0; i < 5; i++) {
          ids.push(g.requestId());
          await tick();
        }
        return ids;
      });
    const [a, b] = await Promise.all([run('req_a'), run('req_b')]);
    expect(a).toEqual(Array(5).fill('req_a'));
    expect(b).toEqual(Array(5).fill('req_b'));
  });
});

describe('guard.withRequest()', () => {
  const NO_HEADERS = { get: () => null };
  const ROUTE = { route: 'context' };
  const begin = (g: ReturnType<typeof guard>) => {
    const begun = g.route(ROUTE).begin({ headers: NO_HEADERS });
    if (!begun.ok) throw new Error('the route refused the request');
    return begun.call;
  };

  it('enters the request context only once something of the guard reads it (requestId)', async () => {
    const g = guard();
    const first = begin(g);
    // Nothing read the context when the first request began its handler: it runs outside it.
    expect(await g.withRequest(first, () => Promise.resolve(g.requestId()))).toBeUndefined();
    first.end(200);
    // requestId() was called: from now on every request carries its id, across awaits.
    const second = begin(g);
    const seen = await g.withRequest(second, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return g.requestId();
    });
    expect(seen).toBe(second.requestId);
    second.end(200);
    expect(g.requestId()).toBeUndefined();
  });

  it('enters it from the first request when a guard.middleware() exists', async () => {
    const g = guard();
    g.middleware({ route: 'context' });
    const call = begin(g);
    expect(await g.withRequest(call, () => Promise.resolve(g.requestId()))).toBe(call.requestId);
    call.end(200);
  });
});

describe('claudeGuardErrorOf()', () => {
  const guardError = new ClaudeGuardError({
    status: 504,
    type: 'timeout_error',
    message: 'The deadline ran out',
    outcome: 'deadline-exceeded',
    attempts: 2,
  });

  it("finds the guard's error behind the SDK's error for the middleware's answer", () => {
    const headers = new Headers();
    rememberGuardError(headers, guardError);
    const sdkError = APIError.generate(504, { type: 'error' }, undefined, headers);
    expect(claudeGuardErrorOf(sdkError)).toMatchObject({ status: 504, outcome: 'deadline-exceeded', attempts: 2 });
    // The same object every time: an error logged once stays logged once.
    expect(claudeGuardErrorOf(sdkError)).toBe(claudeGuardErrorOf(sdkError));
  });

  it('trusts no upstream that sends the header without this process nonce', () => {
    const forged = new Headers({
      'x-claude-guard-error': `0123.${encodeURIComponent(JSON.stringify({ status: 418, type: 'api_error', message: 'hi' }))}`,
    });
    expect(claudeGuardErrorOf(APIError.generate(500, {}, undefined, forged))).toBeUndefined();
    expect(claudeGuardErrorOf(new Error('plain'))).toBeUndefined();
    expect(claudeGuardErrorOf(guardError)).toBe(guardError);
  });
});

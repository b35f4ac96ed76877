import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { classifyFailure, type ClassifyContext } from './classify.js';
import type { Clock } from './clock.js';
import { ClientAbortedError, Deadline, DeadlineExceededError, type DeadlineSource } from './deadline.js';
import { AttemptTimeoutError, MalformedStreamError, StreamStallError, UpstreamStreamError } from './upstream-errors.js';

/** A clock whose timers never fire: the deadline expires only when the test moves `now`. */
function manualClock(): Clock & { set(ms: number): void } {
  let now = 0;
  return { now: () => now, setTimeout: () => ({}), clearTimeout: () => {}, set: (ms) => (now = ms) };
}

function context(options: { source?: DeadlineSource; countRateLimits?: boolean } = {}) {
  const clock = manualClock();
  const deadline = new Deadline(clock, 10_000, options.source ?? 'route-default');
  const ctx: ClassifyContext = { deadline, countRateLimits: options.countRateLimits ?? false, now: clock.now };
  return { ctx, clock, deadline };
}

function apiError(status: number, headers: Record<string, string> = {}, type?: string, message = 'upstream says so') {
  const body = type === undefined ? undefined : { type: 'error', error: { type, message } };
  return Anthropic.APIError.generate(status, body, undefined, new Headers({ 'request-id': 'req_up1', ...headers }));
}

describe('classifyFailure: HTTP statuses from the SDK', () => {
  it.each([
    [400, 'invalid_request_error', false, 'success', 'BadRequestError'],
    [401, 'authentication_error', false, 'success', 'AuthenticationError'],
    [402, 'billing_error', false, 'success', 'PaymentRequiredError'],
    [403, 'permission_error', false, 'success', 'PermissionDeniedError'],
    [404, 'not_found_error', false, 'success', 'NotFoundError'],
    [408, 'timeout_error', true, 'failure', 'RequestTimeoutError'],
    [409, 'conflict_error', true, 'success', 'ConflictError'],
    [413, 'request_too_large', false, 'success', 'ContentTooLargeError'],
    [422, 'invalid_request_error', false, 'success', 'UnprocessableEntityError'],
    [429, 'rate_limit_error', true, 'success', 'RateLimitError'],
    [500, 'api_error', true, 'failure', 'InternalServerError'],
    [502, 'api_error', true, 'failure', 'InternalServerError'],
    [503, 'api_error', true, 'failure', 'ServiceUnavailableError'],
    [504, 'api_error', true, 'failure', 'GatewayTimeoutError'],
    [529, 'overloaded_error', true, 'failure', 'OverloadedError'],
  ] as const)('%d (%s): transient %s, breaker %s', (status, type, transient, breaker, className) => {
    const error = apiError(status, {}, type);
    expect(error.constructor.name).toBe(className);
    const failure = classifyFailure(error, context().ctx);
    expect(failure).toMatchObject({
      kind: 'http',
      status,
      type,
      transient,
      breaker,
      upstreamRequestId: 'req_up1',
      upstreamMessage: 'upstream says so',
      retryAfterMs: undefined,
    });
    expect(failure.error).toBe(error);
  });

  it('works with the SDK classes constructed directly', () => {
    const body = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    const error = new Anthropic.OverloadedError(529, body, undefined, new Headers({ 'request-id': 'req_9' }));
    expect(classifyFailure(error, context().ctx)).toMatchObject({
      kind: 'http',
      status: 529,
      type: 'overloaded_error',
      transient: true,
      breaker: 'failure',
      upstreamRequestId: 'req_9',
    });
  });

  it('takes the type from the status when the body has none, and maps unknown types to api_error', () => {
    expect(classifyFailure(apiError(529), context().ctx).type).toBe('overloaded_error');
    expect(classifyFailure(apiError(404), context().ctx).type).toBe('not_found_error');
    expect(classifyFailure(apiError(500, {}, 'brand_new_error'), context().ctx).type).toBe('api_error');
  });

  it('counts 429 against the breaker only with countRateLimits', () => {
    expect(classifyFailure(apiError(429), context({ countRateLimits: true }).ctx).breaker).toBe('failure');
    expect(classifyFailure(apiError(429), context({ countRateLimits: false }).ctx).breaker).toBe('success');
  });

  it('x-should-retry: false makes any status final', () => {
    for (const status of [408, 429, 500, 529]) {
      const failure = classifyFailure(apiError(status, { 'x-should-retry': 'false' }), context().ctx);
      expect(failure.transient, String(status)).toBe(false);
    }
    // ...without changing what it says about upstream health.
    expect(classifyFailure(apiError(529, { 'x-should-retry': 'false' }), context().ctx).breaker).toBe('failure');
  });

  it('x-should-retry: true makes an unusual status transient, but never a plain client error', () => {
    expect(classifyFailure(apiError(418, { 'x-should-retry': 'true' }), context().ctx).transient).toBe(true);
    expect(classifyFailure(apiError(418), context().ctx).transient).toBe(false);
    for (const status of [400, 401, 402, 403, 404, 413, 422]) {
      expect(classifyFailure(apiError(status, { 'x-should-retry': 'true' }), context().ctx).transient).toBe(false);
    }
  });

  it('501 is not retried (not implemented will not become implemented)', () => {
    expect(classifyFailure(apiError(501), context().ctx)).toMatchObject({ transient: false, breaker: 'failure' });
  });

  it('reads retry-after-ms, then retry-after', () => {
    expect(classifyFailure(apiError(429, { 'retry-after-ms': '250' }), context().ctx).retryAfterMs).toBe(250);
    expect(classifyFailure(apiError(529, { 'retry-after': '3' }), context().ctx).retryAfterMs).toBe(3_000);
    expect(
      classifyFailure(apiError(529, { 'retry-after-ms': '10', 'retry-after': '3' }), context().ctx).retryAfterMs,
    ).toBe(10);
  });
});

describe('classifyFailure: connection-level failures', () => {
  it('APIConnectionError is a transient connection failure', () => {
    const error = new Anthropic.APIConnectionError({ message: 'Connection error.' });
    expect(classifyFailure(error, context().ctx)).toMatchObject({
      kind: 'connection',
      status: undefined,
      type: 'api_error',
      transient: true,
      breaker: 'failure',
    });
  });

  it("APIConnectionTimeoutError (the SDK's own timeout) is a transient attempt timeout", () => {
    expect(classifyFailure(new Anthropic.APIConnectionTimeoutError(), context().ctx)).toMatchObject({
      kind: 'attempt-timeout',
      type: 'timeout_error',
      transient: true,
      breaker: 'failure',
    });
  });

  it('APIUserAbortError from a foreign signal is a neutral client abort', () => {
    expect(classifyFailure(new Anthropic.APIUserAbortError(), context().ctx)).toMatchObject({
      kind: 'client-abort',
      transient: false,
      breaker: 'neutral',
    });
  });

  it('a body cut off after the headers (fetch: TypeError terminated) is a transient connection failure', () => {
    const cut = new TypeError('terminated', {
      cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
    });
    expect(classifyFailure(cut, context().ctx)).toMatchObject({
      kind: 'connection',
      transient: true,
      breaker: 'failure',
    });
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(classifyFailure(reset, context().ctx)).toMatchObject({ kind: 'connection', transient: true });
  });
});

describe('classifyFailure: in-band and stream failures', () => {
  it.each([
    ['overloaded_error', true, 'failure'],
    ['api_error', true, 'failure'],
    ['timeout_error', true, 'failure'],
    ['rate_limit_error', true, 'success'],
    ['invalid_request_error', false, 'success'],
  ] as const)('UpstreamStreamError %s: transient %s, breaker %s', (type, transient, breaker) => {
    const failure = classifyFailure(new UpstreamStreamError(type, 'in-band message'), context().ctx);
    expect(failure).toMatchObject({ kind: 'in-band', type, transient, breaker, upstreamMessage: 'in-band message' });
  });

  it('an in-band rate limit counts against the breaker with countRateLimits', () => {
    const error = new UpstreamStreamError('rate_limit_error', 'slow down');
    expect(classifyFailure(error, context({ countRateLimits: true }).ctx).breaker).toBe('failure');
  });

  it('an in-band error read through the SDK (status undefined) is classified by its type', () => {
    const body = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
    const error = new Anthropic.APIError(undefined, body, undefined, undefined);
    expect(classifyFailure(error, context().ctx)).toMatchObject({
      kind: 'in-band',
      type: 'overloaded_error',
      transient: true,
      breaker: 'failure',
      upstreamMessage: 'Overloaded',
    });
    const final = new Anthropic.APIError(
      undefined,
      { type: 'error', error: { type: 'invalid_request_error' } },
      undefined,
      undefined,
    );
    expect(classifyFailure(final, context().ctx)).toMatchObject({
      kind: 'in-band',
      transient: false,
      breaker: 'success',
    });
  });

  it.each([
    [new AttemptTimeoutError(100), 'attempt-timeout', 'timeout_error'],
    [new StreamStallError('first-event', 100), 'stream-stalled', 'timeout_error'],
    [new StreamStallError('idle', 100), 'stream-stalled', 'timeout_error'],
    [new MalformedStreamError('bad data'), 'malformed', 'api_error'],
  ] as const)('%s is a transient %s failure', (error, kind, type) => {
    expect(classifyFailure(error, context().ctx)).toMatchObject({ kind, type, transient: true, breaker: 'failure' });
  });
});

describe('classifyFailure: the deadline and the client come first', () => {
  it("the caller's own deadline is neutral for the breaker; the route's is a failure", () => {
    const caller = context({ source: 'caller-header' });
    expect(classifyFailure(new DeadlineExceededError('caller-header', 100), caller.ctx)).toMatchObject({
      kind: 'deadline',
      type: 'timeout_error',
      transient: false,
      breaker: 'neutral',
    });
    for (const source of ['route-default', 'route-maximum'] as const) {
      const route = context({ source });
      expect(classifyFailure(new DeadlineExceededError(source, 100), route.ctx).breaker).toBe('failure');
    }
  });

  it('any error once the deadline has passed is a deadline failure that names the deadline', () => {
    const { ctx, clock } = context({ source: 'caller-header' });
    clock.set(10_000);
    const failure = classifyFailure(new Anthropic.APIConnectionTimeoutError(), ctx);
    expect(failure.kind).toBe('deadline');
    expect(failure.error).toBeInstanceOf(DeadlineExceededError);
    expect(failure.error).toMatchObject({ source: 'caller-header', budgetMs: 10_000 });
    expect(classifyFailure(apiError(529), ctx).kind).toBe('deadline');
  });

  it('a client abort explains any error surfacing with it', () => {
    const { ctx, deadline } = context();
    expect(classifyFailure(new ClientAbortedError(), ctx)).toMatchObject({ kind: 'client-abort', breaker: 'neutral' });
    deadline.abortForClient();
    expect(classifyFailure(apiError(529), ctx)).toMatchObject({
      kind: 'client-abort',
      transient: false,
      breaker: 'neutral',
    });
    expect(classifyFailure(new Anthropic.APIUserAbortError(), ctx).kind).toBe('client-abort');
  });
});

describe('classifyFailure: everything else', () => {
  it.each([new RangeError('my bug'), new SyntaxError('Unexpected token'), 'a string', undefined, { status: 500 }])(
    '%s is an internal, neutral, final failure',
    (error) => {
      expect(classifyFailure(error, context().ctx)).toMatchObject({
        kind: 'unknown',
        type: 'api_error',
        transient: false,
        breaker: 'neutral',
        status: undefined,
      });
    },
  );
});

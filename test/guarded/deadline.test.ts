import { describe, expect, it } from 'vitest';
import {
  ALL_ADAPTERS,
  LATE_HEADERS,
  MANUAL_DEADLINE_MS,
  NO_RESERVE,
  expectAnthropicError,
  manualClock,
  runOutAtUpstream,
  useStack,
  type Stack,
} from '../support/index.js';

type RouteKind = 'chat' | 'proxy' | 'run';

function call(h: Stack, route: RouteKind, headers: Record<string, string>) {
  if (route === 'chat') return h.chat(headers);
  if (route === 'proxy') return h.proxy(headers);
  return h.send('/run', { message: 'hello' }, { headers });
}

const ROUTES: RouteKind[] = ['chat', 'proxy', 'run'];

// The deadlines that run out here run on a manual clock, and run out once the upstream has the request
// (runOutAtUpstream): on real time, a loaded machine could spend a short deadline before the attempt
// reached the fake, leaving no upstream request to abort.
const DEADLINE_MS = MANUAL_DEADLINE_MS;

describe.each(ALL_ADAPTERS)('deadlines (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  describe.each(ROUTES)('route %s', (route) => {
    it.each([
      ['x-request-timeout-ms', String(DEADLINE_MS)],
      ['x-envoy-expected-rq-timeout-ms', String(DEADLINE_MS)],
      ['grpc-timeout', `${DEADLINE_MS}m`],
    ])('honours %s and aborts the upstream request when the deadline runs out', async (header, value) => {
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock } });
      h.fake.enqueue(LATE_HEADERS);
      const result = await runOutAtUpstream(h.fake, clock, () => call(h, route, { [header]: value }));
      expect(result.status).toBe(504);
      const error = expectAnthropicError(result);
      expect(error.type).toBe('timeout_error');
      expect(error.message).toContain(`caller's deadline (from the request header) of ${DEADLINE_MS} ms ran out`);
      await h.fake.settled();
      expect(h.fake.requests).toHaveLength(1);
      expect(h.fake.requests[0]!.outcome).toBe('client-aborted');
      expect(h.fake.requests[0]!.status).toBeUndefined();
    });

    it('takes the smallest of several deadline headers', async () => {
      const clock = manualClock();
      const h = await start(adapter, { guard: { clock } });
      h.fake.enqueue(LATE_HEADERS);
      const result = await runOutAtUpstream(h.fake, clock, () =>
        call(h, route, {
          'x-request-timeout-ms': '90000',
          'x-envoy-expected-rq-timeout-ms': '60000',
          'grpc-timeout': `${DEADLINE_MS}m`,
        }),
      );
      expect(result.status).toBe(504);
      expect(expectAnthropicError(result).message).toContain(
        `caller's deadline (from the request header) of ${DEADLINE_MS} ms`,
      );
      await h.fake.settled();
      expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
    });

    it("caps the caller's header at the route maximum", async () => {
      const clock = manualClock();
      const h = await start(adapter, {
        guard: { clock },
        chat: { deadline: { maxMs: DEADLINE_MS } },
        proxy: { deadline: { maxMs: DEADLINE_MS } },
        run: { deadline: { maxMs: DEADLINE_MS } },
      });
      h.fake.enqueue(LATE_HEADERS);
      const result = await runOutAtUpstream(h.fake, clock, () => call(h, route, { 'x-request-timeout-ms': '90000' }));
      expect(result.status).toBe(504);
      const error = expectAnthropicError(result);
      expect(error.type).toBe('timeout_error');
      expect(error.message).toContain(`route's maximum deadline of ${DEADLINE_MS} ms`);
      await h.fake.settled();
      expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
    });

    it.each([
      [2500, { 'x-request-timeout-ms': '2500' }],
      [4000, { 'grpc-timeout': '4S' }],
      [60_000, {}],
    ])('tells the SDK a timeout within the %d ms deadline (x-stainless-timeout)', async (deadlineMs, headers) => {
      const h = await start(adapter);
      const result = await call(h, route, headers);
      expect(result.status).toBe(200);
      expect(h.fake.requests).toHaveLength(1);
      const seconds = Number(h.fake.requests[0]!.headers['x-stainless-timeout']);
      expect(Number.isInteger(seconds)).toBe(true);
      expect(seconds).toBeGreaterThanOrEqual(0);
      expect(seconds).toBeLessThanOrEqual(Math.ceil(deadlineMs / 1000));
    });

    it.each([
      ['x-request-timeout-ms', 'abc'],
      ['x-request-timeout-ms', '1.5'],
      ['x-envoy-expected-rq-timeout-ms', '1'.repeat(30)],
      ['grpc-timeout', '5x'],
    ])('rejects a malformed %s (%s) with 400 before any upstream call', async (header, value) => {
      const h = await start(adapter);
      const result = await call(h, route, { [header]: value });
      expect(result.status).toBe(400);
      const error = expectAnthropicError(result);
      expect(error.type).toBe('invalid_request_error');
      expect(error.message).toContain(`Header ${header}`);
      expect(h.fake.requests).toHaveLength(0);
    });

    it('a malformed header fails the request even when another deadline header is fine', async () => {
      const h = await start(adapter);
      const result = await call(h, route, { 'x-request-timeout-ms': '5000', 'grpc-timeout': '100' });
      expect(result.status).toBe(400);
      expect(expectAnthropicError(result).message).toContain('grpc-timeout');
      expect(h.fake.requests).toHaveLength(0);
    });

    it.each(['0', '-5'])(
      'answers 504 at once for an already spent deadline (%s), without calling Claude',
      async (value) => {
        const h = await start(adapter);
        const result = await call(h, route, { 'x-request-timeout-ms': value });
        expect(result.status).toBe(504);
        const error = expectAnthropicError(result);
        expect(error.type).toBe('timeout_error');
        expect(error.message).toContain("the caller's deadline had already passed");
        expect(h.fake.requests).toHaveLength(0);
      },
    );
  });

  it('does not retry once the deadline has run out, even for a transient failure', async () => {
    const clock = manualClock();
    const h = await start(adapter, { guard: { clock } });
    h.fake.enqueue(LATE_HEADERS, 'ok');
    const result = await runOutAtUpstream(h.fake, clock, () => h.chat({ 'x-request-timeout-ms': String(DEADLINE_MS) }));
    expect(result.status).toBe(504);
    await h.fake.settled();
    expect(h.fake.requests).toHaveLength(1);
    const deadlineEvents = h.events.filter((e) => e.type === 'deadline-exceeded');
    expect(deadlineEvents).toEqual([
      {
        type: 'deadline-exceeded',
        route: 'chat',
        requestId: result.headers.get('x-request-id'),
        source: 'caller-header',
        budgetMs: DEADLINE_MS,
      },
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  LATE_HEADERS,
  MANUAL_DEADLINE_MS,
  NO_RESERVE,
  expectAnthropicError,
  manualClock,
  retryCounts,
  runOutAtUpstream,
  useStack,
} from '../support/index.js';

const DIRECT = { kind: 'direct', path: '/direct', options: { route: 'direct' } } as const;

describe.each(ADAPTERS)('guard.middleware() in a guarded route (%s)', (adapter) => {
  const start = useStack(NO_RESERVE);

  it("honours the caller's deadline header: 504 on time, the upstream aborted, x-stainless-timeout within the time left", async () => {
    const clock = manualClock();
    const h = await start(adapter, { guard: { clock }, routes: [DIRECT] });
    h.fake.enqueue(LATE_HEADERS);
    const result = await runOutAtUpstream(h.fake, clock, () =>
      h.send('/direct', { message: 'hi' }, { headers: { 'x-request-timeout-ms': String(MANUAL_DEADLINE_MS) } }),
    );
    expect(result.status).toBe(504);
    const error = expectAnthropicError(result);
    expect(error.type).toBe('timeout_error');
    expect(error.message).toContain(`caller's deadline (from the request header) of ${MANUAL_DEADLINE_MS} ms ran out`);
    await h.fake.settled();
    expect(h.fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
    const sent = Number(h.fake.requests[0]!.headers['x-stainless-timeout']);
    expect(sent).toBeLessThanOrEqual(MANUAL_DEADLINE_MS / 1000);
  });

  it('529, 529, ok: exactly three upstream attempts, none added by the SDK', async () => {
    const h = await start(adapter, { routes: [DIRECT] });
    h.fake.enqueue(529, 529, 'ok');
    const result = await h.send('/direct', { message: 'hi' });
    expect(result.status).toBe(200);
    expect(retryCounts(h.fake)).toEqual(['0', '1', '2']);
  });
});

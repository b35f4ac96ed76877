import { expect, vi } from 'vitest';
import {
  SseReader,
  activeTimeouts,
  deltaText,
  json,
  params,
  readSse,
  startStack,
  textEventsText,
  trackingClock,
  within,
  type AdapterName,
  type SseMessage,
  type Stack,
} from '../support/index.js';
import { clientAction } from './matrix-table.js';
import type { Final, Mode, Row } from './matrix-types.js';

/** The matrix's settings (see the table's header). */
const STREAM = { firstEventTimeoutMs: 5_000, idleTimeoutMs: 5_000, heartbeatMs: 10_000 } as const;
const DEADLINE = { defaultMs: 1_500 } as const;
const MESSAGE = params().messages[0]!.content as string;
const REPLY_WORDS = 12;

/** What the end user got. */
interface Seen {
  status: number | 'none';
  headers: Headers | undefined;
  body: unknown;
  events: SseMessage[] | undefined;
  error: unknown;
}

function request(row: Row): { path: string; body: unknown; headers: Record<string, string> } {
  const headers: Record<string, string> =
    row.fault.deadlineMs === undefined ? {} : { 'x-request-timeout-ms': String(row.fault.deadlineMs) };
  if (row.mode === 'text') return { path: '/chat', body: { message: MESSAGE, stream: true }, headers };
  return { path: '/v1/messages', body: row.mode === 'anthropic' ? { ...params(), stream: true } : params(), headers };
}

function inject(h: Stack, row: Row): void {
  const { fault } = row;
  const timing = row.mode === 'json' ? {} : (fault.streamTiming ?? {});
  if (fault.every !== undefined) h.fake.setDefault({ ...timing, faultRate: 1, fault: fault.every });
  else if (Object.keys(timing).length > 0) h.fake.setDefault(timing);
  if (fault.first !== undefined) h.fake.enqueue(fault.first);
}

async function call(h: Stack, row: Row): Promise<Seen> {
  const { path, body, headers } = request(row);
  const controller = new AbortController();
  const action = clientAction(row);
  const pending = h.post(path, body, { headers, signal: controller.signal });

  if (action === 'leave-once-upstream-called' || action === 'leave-once-upstream-headers') {
    pending.catch(() => undefined);
    await vi.waitFor(
      () => {
        const upstream = h.fake.requests[0];
        expect(upstream).toBeDefined();
        if (action === 'leave-once-upstream-headers') expect(upstream?.status).toBe(200);
      },
      { timeout: 5_000, interval: 2 },
    );
    controller.abort();
    const error = await pending.then(
      () => new Error('the response arrived before the client left'),
      (reason: unknown) => reason,
    );
    return { status: 'none', headers: undefined, body: undefined, events: undefined, error };
  }

  const response = await pending;
  const seen: Seen = {
    status: response.status,
    headers: response.headers,
    body: undefined,
    events: [],
    error: undefined,
  };
  if (action === 'leave-after-first-delta') {
    const reader = new SseReader(response.body);
    seen.events = await reader.until((message) => message.event === 'content_block_delta' || message.event === 'text');
    controller.abort();
    await reader.cancel();
    return seen;
  }
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
    seen.events = await readSse(response);
  } else {
    seen.events = undefined;
    const text = await response.text();
    seen.body = JSON.parse(text) as unknown;
  }
  return seen;
}

const DELTA: Record<Exclude<Mode, 'json'>, string> = { anthropic: 'content_block_delta', text: 'text' };

/** The event names (pings left out) a stream with `deltas` data events and this end has. */
function expectedNames(mode: Exclude<Mode, 'json'>, deltas: number, final: Final): string[] {
  const head = mode === 'anthropic' ? ['message_start', 'content_block_start'] : [];
  const body = Array.from({ length: deltas }, () => DELTA[mode]);
  if (final === 'aborted') return [...head, ...body];
  if (final === 'complete') {
    return mode === 'anthropic'
      ? [...head, ...body, 'content_block_stop', 'message_delta', 'message_stop']
      : [...body, 'done'];
  }
  return [...head, ...body, `error: ${final}`];
}

function streamText(mode: Exclude<Mode, 'json'>, events: readonly SseMessage[]): string {
  return mode === 'text' ? textEventsText(events) : deltaText(events);
}

function checkSeen(row: Row, seen: Seen, expectedText: string | undefined): void {
  expect(seen.status).toBe(row.status);
  if (seen.status === 'none') {
    expect(seen.error).toMatchObject({ name: 'AbortError' });
    return;
  }
  const headers = seen.headers!;
  const requestId = headers.get('x-request-id');
  expect(requestId).toMatch(/\S/);
  expect(headers.get('retry-after')).toBe(row.retryAfter ?? null);

  if (seen.status >= 400) {
    // A real HTTP error: nothing had been committed.
    expect(headers.get('content-type')).toMatch(/^application\/json/);
    expect(headers.get('x-should-retry')).toBe('false');
    expect(seen.body).toMatchObject({ type: 'error', error: { type: row.final }, request_id: requestId });
    return;
  }

  if (row.mode === 'json') {
    expect(headers.get('content-type')).toMatch(/^application\/json/);
    expect(seen.body).toMatchObject({
      type: 'message',
      content: [{ type: 'text', text: expectedText }],
      usage: { output_tokens: REPLY_WORDS },
    });
    return;
  }

  expect(headers.get('content-type')).toBe('text/event-stream');
  const events = seen.events!;
  // Pings left out; an error event shows its type, so a wrong one is plain in a failure's diff.
  const list = events
    .filter((event) => event.event !== 'ping')
    .map((event) =>
      event.event === 'error' ? `error: ${json<{ error: { type: string } }>(event).error.type}` : event.event,
    );
  if (row.deltas === 'some') {
    // How many deltas fit before the deadline depends on timing: at least one, never the whole reply.
    const count = list.filter((name) => name === DELTA[row.mode as Exclude<Mode, 'json'>]).length;
    expect(count).toBeGreaterThanOrEqual(1);
    expect(count).toBeLessThan(REPLY_WORDS);
    expect(list).toEqual(expectedNames(row.mode, count, row.final));
  } else {
    expect(list).toEqual(expectedNames(row.mode, row.deltas as number, row.final));
  }
  if (row.final === 'complete') {
    expect(streamText(row.mode, events)).toBe(expectedText);
    if (row.mode === 'text') expect(json(events.at(-1))).toMatchObject({ stop_reason: 'end_turn' });
  } else if (row.final !== 'aborted') {
    expect(json(events.at(-1))).toMatchObject({ type: 'error', error: { type: row.final }, request_id: requestId });
  }
}

/**
 * Runs one row of the matrix on a fresh stack (fresh fake, guard and breakers: counts start at zero)
 * and checks what the end user got, the upstream attempts and their outcomes, the breaker's counts, the
 * log line, and that the request left no timer and no second log line behind.
 */
export async function runCase(adapter: AdapterName, row: Row): Promise<void> {
  const timers = trackingClock();
  const stream = { ...STREAM, ...row.fault.stream };
  const h = await startStack({ adapter, guard: { clock: timers.clock, deadline: DEADLINE, stream } });
  try {
    const expectedText = row.final === 'complete' || row.final === 'message' ? await h.directText() : undefined;
    h.guard.on((event) => {
      if (event.type === 'request-end') timers.markEnded();
    });
    inject(h, row);
    // Measured after the guard (and its breakers' shared, unref'd rotation interval) exists.
    const baseline = activeTimeouts();

    const seen = await call(h, row);
    checkSeen(row, seen, expectedText);
    if (seen.headers) {
      // README: x-upstream-request-id "when the upstream answered": the id of the last attempt Claude answered.
      const answered = h.fake.requests.filter((record) => record.status !== undefined).at(-1);
      expect(seen.headers.get('x-upstream-request-id')).toBe(answered?.id ?? null);
    }

    // Upstream: how many attempts, and each one over (an aborted one really aborted).
    await within(h.fake.settled(), 5_000, 'upstream requests were left open');
    expect(h.fake.requests.map((record) => record.outcome)).toEqual(row.upstream);
    expect(h.fake.requests).toHaveLength(row.attempts);

    const line = await h.logLine(0);
    expect(line).toMatchObject({
      status: row.final === 'aborted' ? 499 : row.status,
      outcome: row.log,
      attempts: row.attempts,
      stream: row.mode !== 'json',
    });
    if (seen.headers) expect(line.requestId).toBe(seen.headers.get('x-request-id'));

    const breaker = h.guard.status().breakers.find((b) => b.key === (row.mode === 'text' ? 'chat' : 'proxy'));
    expect(breaker?.state).toBe('closed');
    expect(breaker?.counts).toMatchObject(row.breaker);

    // Nothing left behind: every guard timer cleared (none fired after the request ended), no extra
    // Node timer, and exactly one log line (written once, when the request's context is disposed).
    await vi.waitFor(() => expect(timers.pending()).toEqual([]), { timeout: 2_000, interval: 5 });
    expect(timers.late()).toEqual([]);
    // The test runner's own timers come and go (a baseline may include one): wait out such a transient.
    await vi.waitFor(() => expect(activeTimeouts()).toBeLessThanOrEqual(baseline), { timeout: 1_000, interval: 5 });
    expect(h.logs).toHaveLength(1);
    expect(h.events.filter((event) => event.type === 'request-end')).toHaveLength(1);
  } finally {
    await h.close();
  }
}

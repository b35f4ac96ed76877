import type { StatusFault } from '@claude-guard/fake-anthropic';
import type { FaultSpec } from './matrix-types.js';

// The faults of the matrix and how each is injected; the table is in matrix-table.ts.

export const RA2 = { 'retry-after': '2' }; // longer than the time left: the guard stops at once
export const RA0 = { 'retry-after': '0' }; // fits: retried at once
export const XSR_TRUE = { 'x-should-retry': 'true' };
export const XSR_FALSE = { 'x-should-retry': 'false' };

/** Every attempt answers `status` (with `headers`). */
export function st(status: number, headers?: Record<string, string>): FaultSpec {
  const fault: StatusFault = headers ? { kind: 'status', status, headers } : { kind: 'status', status };
  const suffix = headers
    ? ` + ${Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}`)
        .join(', ')}`
    : '';
  return { name: `${status}${suffix}`, every: fault };
}

/** The stall rows' first-event and idle timeouts (the other rows' are 5 s, out of the way). */
const STALL_TIMEOUTS = { firstEventTimeoutMs: 200, idleTimeoutMs: 200 } as const;

/** Mid-stream faults come after a token delay, so the first events (and the commit) come first. */
const AFTER_COMMIT = { tokenDelayMs: 40 } as const;

export const F = {
  delayHeaders: { name: 'delay before headers (50 ms)', every: { kind: 'delay-headers', ms: 50 } },
  longDelayHeaders: {
    name: 'delay before headers (400 ms, > first-event timeout)',
    every: { kind: 'delay-headers', ms: 400 },
    stream: STALL_TIMEOUTS,
  },
  stallFirst: {
    name: 'stall before the first event',
    every: { kind: 'stall', afterEvents: 0 },
    stream: STALL_TIMEOUTS,
  },
  stallFirstOnce: {
    name: 'stall before the first event, then ok',
    first: { kind: 'stall', afterEvents: 0 },
    stream: STALL_TIMEOUTS,
  },
  stallAfter4: { name: 'stall after 4 events', every: { kind: 'stall', afterEvents: 4 }, stream: STALL_TIMEOUTS },
  inBandFirst: {
    name: 'in-band overloaded_error before the first forwarded event',
    every: { kind: 'in-band-error', afterEvents: 0 },
  },
  inBandFirstOnce: {
    name: 'in-band overloaded_error before the first forwarded event, then ok',
    first: { kind: 'in-band-error', afterEvents: 0 },
  },
  inBandAfter: {
    name: 'in-band overloaded_error after the first forwarded event',
    every: { kind: 'in-band-error', afterEvents: 5 },
    streamTiming: AFTER_COMMIT,
  },
  resetHeaders: { name: 'reset before headers', every: { kind: 'reset' } },
  resetHeadersOnce: { name: 'reset before headers, then ok', first: { kind: 'reset' } },
  resetBody: { name: 'reset mid-body', every: { kind: 'reset', afterEvents: 5 }, streamTiming: AFTER_COMMIT },
  resetBodyOnce: { name: 'reset mid-body, then ok', first: { kind: 'reset', afterEvents: 5 } },
  malformedFirst: { name: 'malformed SSE as the first event', every: { kind: 'malformed', afterEvents: 0 } },
  malformedFirstOnce: {
    name: 'malformed SSE as the first event, then ok',
    first: { kind: 'malformed', afterEvents: 0 },
  },
  malformedAfter: {
    name: 'malformed body / SSE event after the first forwarded event',
    every: { kind: 'malformed', afterEvents: 5 },
    streamTiming: AFTER_COMMIT,
  },
  trickle: { name: 'slow trickle (64-byte pieces)', every: { kind: 'trickle', chunkBytes: 64, delayMs: 1 } },
  slow: { name: 'slow start and slow tokens', every: { kind: 'slow', firstEventDelayMs: 30, tokenDelayMs: 5 } },
  leaveBeforeHeaders: {
    name: 'client disconnect before headers',
    first: { kind: 'delay-headers', ms: 5_000 },
    client: 'leave-once-upstream-called',
  },
  leaveBeforeFirstEvent: {
    name: 'client disconnect before the first event',
    // Non-streaming, the fake holds the headers back for the first-event delay too.
    first: { kind: 'slow', firstEventDelayMs: 5_000 },
    client: {
      json: 'leave-once-upstream-called',
      anthropic: 'leave-once-upstream-headers',
      text: 'leave-once-upstream-headers',
    },
  },
  leaveMidStream: {
    name: 'client disconnect mid-stream',
    first: { kind: 'slow', tokenDelayMs: 50 },
    client: 'leave-after-first-delta',
  },
  leaveMidBody: {
    name: 'client disconnect mid-body',
    first: { kind: 'trickle', chunkBytes: 16, delayMs: 40 },
    client: 'leave-once-upstream-headers',
  },
  deadlineBeforeHeaders: {
    name: 'deadline (caller, 300 ms) before headers',
    first: { kind: 'delay-headers', ms: 5_000 },
    deadlineMs: 300,
  },
  deadlineBeforeFirstEvent: {
    name: 'deadline (caller, 300 ms) before the first event',
    first: { kind: 'slow', firstEventDelayMs: 5_000 },
    deadlineMs: 300,
  },
  deadlineMidStream: {
    name: 'deadline (caller, 400 ms) mid-stream',
    first: { kind: 'slow', tokenDelayMs: 100 },
    deadlineMs: 400,
  },
  deadlineMidBody: {
    name: 'deadline (caller, 300 ms) mid-body',
    first: { kind: 'trickle', chunkBytes: 16, delayMs: 40 },
    deadlineMs: 300,
  },
} as const satisfies Record<string, FaultSpec>;

import type { AnthropicErrorType } from '@claude-guard/core';
import type { FaultInput, RequestOutcome } from '@claude-guard/fake-anthropic';

// The fault matrix's vocabulary; the table is in matrix-table.ts.

/** How the end user calls. */
export type Mode =
  /** `POST /v1/messages` without `stream` (claudeProxy): one JSON answer. */
  | 'json'
  /** `POST /v1/messages` with `stream: true` (claudeProxy): Claude's own SSE events. */
  | 'anthropic'
  /** `POST /chat` with `stream: true` (claudeGuard + `claude.stream(..., { format: 'text' })`). */
  | 'text';

export const MODES: readonly Mode[] = ['json', 'anthropic', 'text'];

/** A row's mode column: one mode, both streaming modes, or all three. */
export type ModeColumn = Mode | 'streams' | 'all';

/** What the end user does while the request runs. */
export type ClientAction =
  /** Reads the whole answer. */
  | 'read'
  /** Goes away as soon as the guard's upstream request has reached Claude. */
  | 'leave-once-upstream-called'
  /** Goes away as soon as Claude has sent its status line and headers (before any event / the body). */
  | 'leave-once-upstream-headers'
  /** Reads up to the first forwarded data event (`content_block_delta` / `text`), then goes away. */
  | 'leave-after-first-delta';

/** A fault and how it is injected. */
export interface FaultSpec {
  readonly name: string;
  /** Every upstream attempt gets this fault. */
  readonly every?: FaultInput;
  /** Only the first attempt gets it; later attempts are answered normally. */
  readonly first?: FaultInput;
  /**
   * The fake's timing for streaming requests only (for a non-streaming request the fake adds these
   * delays before the headers). A token delay puts the fault's bytes in a later chunk than the first
   * events, so the stream has committed by then.
   */
  readonly streamTiming?: { readonly tokenDelayMs?: number; readonly firstEventDelayMs?: number };
  /** The caller's deadline, sent as `x-request-timeout-ms`. */
  readonly deadlineMs?: number;
  /** Stream timeouts for this case, over the matrix's. */
  readonly stream?: { readonly firstEventTimeoutMs?: number; readonly idleTimeoutMs?: number };
  /** What the end user does (default `read`), for all modes or per mode. */
  readonly client?: ClientAction | { readonly [M in Mode]?: ClientAction };
}

/** The last thing the end user gets. */
export type Final =
  /** JSON 200 with the message (non-streaming). */
  | 'message'
  /** The whole stream, ending with `message_stop` (anthropic) or `done` (text). */
  | 'complete'
  /** The end user left; nothing more arrives. */
  | 'aborted'
  /** An error: the JSON error body's `error.type`, or the in-band `event: error`'s once committed. */
  | AnthropicErrorType;

/** The request log line's `outcome`. */
export type LogOutcome =
  | 'ok'
  | 'bad-request'
  | 'upstream-error'
  | 'upstream-unreachable'
  | 'stream-stalled'
  | 'deadline-exceeded'
  | 'client-aborted';

/** Counts the route's breaker shows afterwards: failures, successes, neutral (counted as neither). */
export type BreakerCounts = readonly [failures: number, successes: number, neutral: number];

/** One row of the table, as written. */
export type RowTuple = readonly [
  fault: FaultSpec,
  mode: ModeColumn,
  /** The end user's HTTP status; `none` when it left before any response. */
  status: number | 'none',
  /** Data events the end user got before the end (`-`: not a stream; `some`: depends on timing, at least one). */
  deltas: number | 'some' | '-',
  final: Final,
  /** The `retry-after` header the end user gets (`-`: none). */
  retryAfter: string,
  /** Upstream attempts (the fake's request log). */
  attempts: number,
  /** The fake's outcome for each attempt, in order. */
  upstream: readonly RequestOutcome[],
  breaker: BreakerCounts,
  log: LogOutcome,
];

/** One expanded case: a row for one mode. */
export interface Row {
  readonly fault: FaultSpec;
  readonly mode: Mode;
  readonly status: number | 'none';
  readonly deltas: number | 'some' | '-';
  readonly final: Final;
  readonly retryAfter: string | undefined;
  readonly attempts: number;
  readonly upstream: readonly RequestOutcome[];
  readonly breaker: { failures: number; successes: number; neutral: number };
  readonly log: LogOutcome;
  /** `<fault> | <mode>`, for test names. */
  readonly title: string;
}

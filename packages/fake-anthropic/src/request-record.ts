import type { Fault } from './fault.js';
import type { RateLimitFamily } from './rate-limit-budget.js';

/**
 * How a request ended: still `pending`; `completed` (the whole response was written); `client-aborted`
 * (the client closed the connection before the response was finished, e.g. during a stall); `reset`
 * (the fake dropped the connection: a reset fault, or `close()` while the request was open).
 *
 * @example
 * ```ts
 * expect(fake.requests[0]?.outcome).toBe<RequestOutcome>('client-aborted');
 * ```
 */
export type RequestOutcome = 'pending' | 'completed' | 'client-aborted' | 'reset';

/**
 * One entry of `fake.requests`, in arrival order. Fields fill in as the request progresses.
 *
 * @example
 * ```ts
 * await fake.settled();
 * const [first] = fake.requests;
 * expect(first?.headers['x-stainless-retry-count']).toBe('0');
 * ```
 */
export type RequestRecord = {
  /** The `request-id` header sent back (`req_...`). */
  readonly id: string;
  /** When the request arrived, from the `now` option (milliseconds). */
  readonly arrivedAt: number;
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** The parsed JSON body, the raw text when it is not JSON, or `undefined` before it has been read. */
  readonly body: unknown;
  /** Request headers, names lowercased; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** Whether the body asked for `"stream": true`. */
  readonly stream: boolean;
  /** The fault applied to this request, or `undefined` for a normal response. */
  readonly fault: Fault | undefined;
  /** The scripted budget that refused this request with a 429 (`rateLimits`), or `undefined`. */
  readonly rateLimited: RateLimitFamily | undefined;
  /** The status sent, or `undefined` when no header was sent (reset before headers, stall). */
  readonly status: number | undefined;
  /** SSE events fully written, counting ping, the in-band error and a malformed event. */
  readonly eventsSent: number;
  readonly outcome: RequestOutcome;
  /** When the outcome was settled, from `now`; `undefined` while pending. */
  readonly endedAt: number | undefined;
  /** When the client's abort was noticed, from `now`; set only for `client-aborted`. */
  readonly abortedAt: number | undefined;
};

/**
 * The fake's own, writable view of a {@link RequestRecord}; callers only ever see the readonly type.
 *
 * @example
 * ```ts
 * const record: MutableRecord = { ...initial };
 * record.eventsSent += 1;
 * ```
 */
export type MutableRecord = { -readonly [K in keyof RequestRecord]: RequestRecord[K] };

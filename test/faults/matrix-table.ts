import { F, RA0, RA2, st, XSR_FALSE, XSR_TRUE } from './faults.js';
import { MODES, type ClientAction, type Mode, type ModeColumn, type Row, type RowTuple } from './matrix-types.js';

/**
 * The fault matrix: what the end user, Claude (the fake) and the breaker see for every fault the fake can
 * produce, on each way of calling a guarded route. One table, reviewed at a glance; the tests are generated
 * from it (non-streaming.test.ts, anthropic-stream.test.ts, text-stream.test.ts) for both adapters.
 *
 * The policy under test (README: "How a request flows", "Retries", "Circuit breaker", "How errors look to
 * clients"), with the matrix's settings: route deadline 1500 ms, caller deadlines 300 or 400 ms
 * (`x-request-timeout-ms`), 3 attempts, backoff 1-5 ms, first-event and idle timeouts 200 ms in the stall rows
 * and 5 s elsewhere (so a loaded machine never trips them), heartbeat 10 s (so no heartbeat commits a stream
 * early), retry budget and breaker at their defaults on a fresh guard per case.
 */

const C = 'completed';
const A = 'client-aborted';
const R = 'reset';
const ALL = 'all';
const STREAMS = 'streams';
const JSON_ = 'json';

/*
 * Reading a row: with this fault, calling this way, the end user gets `status`, then (streams) `deltas` data
 * events and the `final` event / error type, with `retry-after` when given; Claude saw `attempts` requests
 * ending as `upstream`; the route's breaker counted `[failures, successes, neutral]`; the log line says `log`.
 * Every error response also carries `x-should-retry: false`, `x-request-id` and, when Claude answered an
 * attempt, `x-upstream-request-id` (its `request-id`); every in-band error event carries the request id.
 * Streams never commit before the first upstream data event here. After each case: no guard timer pending or
 * fired late, no extra Node timer, exactly one log line (checked in matrix-runner.ts).
 *
 * A stream attempt's breaker verdict is given at its commit (a valid first data event is proof of health: a
 * success), so a half-open breaker is never held for as long as a stream lasts. Upstream ill health after the
 * commit (stall, in-band error, reset, malformed event) is then recorded as one more failure; the client leaving
 * or the deadline running out after the commit adds nothing. Hence [1, 1, 0] and [0, 1, 0] in those rows.
 */
// prettier-ignore
export const TABLE: readonly RowTuple[] = [
  // fault                          mode      status  deltas  final                     retry-after attempts upstream    breaker f/s/n  log
  // -- HTTP errors before any byte: identical in every mode (nothing was committed), retried only when transient.
  [st(400),                         ALL,      400,    '-',    'invalid_request_error',  '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(400, RA2),                    ALL,      400,    '-',    'invalid_request_error',  '2',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(400, RA0),                    ALL,      400,    '-',    'invalid_request_error',  '0',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(400, XSR_TRUE),               ALL,      400,    '-',    'invalid_request_error',  '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(400, XSR_FALSE),              ALL,      400,    '-',    'invalid_request_error',  '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(401),                         ALL,      401,    '-',    'authentication_error',   '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(401, RA2),                    ALL,      401,    '-',    'authentication_error',   '2',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(401, RA0),                    ALL,      401,    '-',    'authentication_error',   '0',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(401, XSR_TRUE),               ALL,      401,    '-',    'authentication_error',   '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(401, XSR_FALSE),              ALL,      401,    '-',    'authentication_error',   '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(403),                         ALL,      403,    '-',    'permission_error',       '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(403, RA2),                    ALL,      403,    '-',    'permission_error',       '2',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(403, RA0),                    ALL,      403,    '-',    'permission_error',       '0',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(403, XSR_TRUE),               ALL,      403,    '-',    'permission_error',       '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(403, XSR_FALSE),              ALL,      403,    '-',    'permission_error',       '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(404),                         ALL,      404,    '-',    'not_found_error',        '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(404, RA2),                    ALL,      404,    '-',    'not_found_error',        '2',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(404, RA0),                    ALL,      404,    '-',    'not_found_error',        '0',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(404, XSR_TRUE),               ALL,      404,    '-',    'not_found_error',        '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(404, XSR_FALSE),              ALL,      404,    '-',    'not_found_error',        '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(408),                         ALL,      408,    '-',    'timeout_error',          '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(408, RA2),                    ALL,      408,    '-',    'timeout_error',          '2',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(408, RA0),                    ALL,      408,    '-',    'timeout_error',          '0',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(408, XSR_TRUE),               ALL,      408,    '-',    'timeout_error',          '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(408, XSR_FALSE),              ALL,      408,    '-',    'timeout_error',          '-',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(409),                         ALL,      409,    '-',    'conflict_error',         '-',        3,      [C, C, C],   [0, 3, 0],    'upstream-error'],
  [st(409, RA2),                    ALL,      409,    '-',    'conflict_error',         '2',        1,      [C],         [0, 1, 0],    'upstream-error'],
  [st(409, RA0),                    ALL,      409,    '-',    'conflict_error',         '0',        3,      [C, C, C],   [0, 3, 0],    'upstream-error'],
  [st(409, XSR_TRUE),               ALL,      409,    '-',    'conflict_error',         '-',        3,      [C, C, C],   [0, 3, 0],    'upstream-error'],
  [st(409, XSR_FALSE),              ALL,      409,    '-',    'conflict_error',         '-',        1,      [C],         [0, 1, 0],    'upstream-error'],
  [st(413),                         ALL,      413,    '-',    'request_too_large',      '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(413, RA2),                    ALL,      413,    '-',    'request_too_large',      '2',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(413, RA0),                    ALL,      413,    '-',    'request_too_large',      '0',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(413, XSR_TRUE),               ALL,      413,    '-',    'request_too_large',      '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(413, XSR_FALSE),              ALL,      413,    '-',    'request_too_large',      '-',        1,      [C],         [0, 1, 0],    'bad-request'],
  [st(429),                         ALL,      429,    '-',    'rate_limit_error',       '-',        3,      [C, C, C],   [0, 3, 0],    'upstream-error'],
  [st(429, RA2),                    ALL,      429,    '-',    'rate_limit_error',       '2',        1,      [C],         [0, 1, 0],    'upstream-error'],
  [st(429, RA0),                    ALL,      429,    '-',    'rate_limit_error',       '0',        3,      [C, C, C],   [0, 3, 0],    'upstream-error'],
  [st(429, XSR_TRUE),               ALL,      429,    '-',    'rate_limit_error',       '-',        3,      [C, C, C],   [0, 3, 0],    'upstream-error'],
  [st(429, XSR_FALSE),              ALL,      429,    '-',    'rate_limit_error',       '-',        1,      [C],         [0, 1, 0],    'upstream-error'],
  [st(500),                         ALL,      500,    '-',    'api_error',              '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(500, RA2),                    ALL,      500,    '-',    'api_error',              '2',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(500, RA0),                    ALL,      500,    '-',    'api_error',              '0',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(500, XSR_TRUE),               ALL,      500,    '-',    'api_error',              '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(500, XSR_FALSE),              ALL,      500,    '-',    'api_error',              '-',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(502),                         ALL,      502,    '-',    'api_error',              '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(502, RA2),                    ALL,      502,    '-',    'api_error',              '2',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(502, RA0),                    ALL,      502,    '-',    'api_error',              '0',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(502, XSR_TRUE),               ALL,      502,    '-',    'api_error',              '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(502, XSR_FALSE),              ALL,      502,    '-',    'api_error',              '-',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(503),                         ALL,      503,    '-',    'api_error',              '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(503, RA2),                    ALL,      503,    '-',    'api_error',              '2',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(503, RA0),                    ALL,      503,    '-',    'api_error',              '0',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(503, XSR_TRUE),               ALL,      503,    '-',    'api_error',              '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(503, XSR_FALSE),              ALL,      503,    '-',    'api_error',              '-',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(504),                         ALL,      504,    '-',    'api_error',              '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(504, RA2),                    ALL,      504,    '-',    'api_error',              '2',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(504, RA0),                    ALL,      504,    '-',    'api_error',              '0',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(504, XSR_TRUE),               ALL,      504,    '-',    'api_error',              '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(504, XSR_FALSE),              ALL,      504,    '-',    'api_error',              '-',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(529),                         ALL,      529,    '-',    'overloaded_error',       '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(529, RA2),                    ALL,      529,    '-',    'overloaded_error',       '2',        1,      [C],         [1, 0, 0],    'upstream-error'],
  [st(529, RA0),                    ALL,      529,    '-',    'overloaded_error',       '0',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(529, XSR_TRUE),               ALL,      529,    '-',    'overloaded_error',       '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [st(529, XSR_FALSE),              ALL,      529,    '-',    'overloaded_error',       '-',        1,      [C],         [1, 0, 0],    'upstream-error'],

  // -- Slow but healthy: answered, one attempt, a breaker success.
  [F.delayHeaders,                  ALL,      200,    12,     'complete',               '-',        1,      [C],         [0, 1, 0],    'ok'],
  [F.trickle,                       ALL,      200,    12,     'complete',               '-',        1,      [C],         [0, 1, 0],    'ok'],
  [F.slow,                          ALL,      200,    12,     'complete',               '-',        1,      [C],         [0, 1, 0],    'ok'],
  // Non-streaming has no first-event timeout (the deadline bounds it); a stream's first-event timeout covers the headers.
  [F.longDelayHeaders,              JSON_,    200,    '-',    'message',                '-',        1,      [C],         [0, 1, 0],    'ok'],
  [F.longDelayHeaders,              STREAMS,  504,    '-',    'timeout_error',          '-',        3,      [A, A, A],   [3, 0, 0],    'stream-stalled'],

  // -- Stalls. Non-streaming, a stall means no headers ever: the route's own deadline (a failure) ends it.
  [F.stallFirst,                    JSON_,    504,    '-',    'timeout_error',          '-',        1,      [A],         [1, 0, 0],    'deadline-exceeded'],
  [F.stallFirst,                    STREAMS,  504,    '-',    'timeout_error',          '-',        3,      [A, A, A],   [3, 0, 0],    'stream-stalled'],
  [F.stallFirstOnce,                STREAMS,  200,    12,     'complete',               '-',        2,      [A, C],      [1, 1, 0],    'ok'],
  [F.stallAfter4,                   JSON_,    504,    '-',    'timeout_error',          '-',        1,      [A],         [1, 0, 0],    'deadline-exceeded'],
  [F.stallAfter4,                   STREAMS,  200,    1,      'timeout_error',          '-',        1,      [A],         [1, 1, 0],    'stream-stalled'],

  // -- In-band errors. Non-streaming, the fake answers the matching status (529) instead.
  [F.inBandFirst,                   ALL,      529,    '-',    'overloaded_error',       '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [F.inBandFirstOnce,               ALL,      200,    12,     'complete',               '-',        2,      [C, C],      [1, 1, 0],    'ok'],
  [F.inBandAfter,                   JSON_,    529,    '-',    'overloaded_error',       '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [F.inBandAfter,                   STREAMS,  200,    2,      'overloaded_error',       '-',        1,      [C],         [1, 1, 0],    'upstream-error'],

  // -- Connection resets.
  [F.resetHeaders,                  ALL,      502,    '-',    'api_error',              '-',        3,      [R, R, R],   [3, 0, 0],    'upstream-unreachable'],
  [F.resetHeadersOnce,              ALL,      200,    12,     'complete',               '-',        2,      [R, C],      [1, 1, 0],    'ok'],
  [F.resetBody,                     JSON_,    502,    '-',    'api_error',              '-',        3,      [R, R, R],   [3, 0, 0],    'upstream-unreachable'],
  [F.resetBodyOnce,                 JSON_,    200,    '-',    'message',                '-',        2,      [R, C],      [1, 1, 0],    'ok'],
  [F.resetBody,                     STREAMS,  200,    2,      'api_error',              '-',        1,      [R],         [1, 1, 0],    'upstream-unreachable'],

  // -- Malformed answers: a truncated JSON body, an unparseable SSE event (never forwarded).
  [F.malformedFirst,                ALL,      502,    '-',    'api_error',              '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [F.malformedFirstOnce,            ALL,      200,    12,     'complete',               '-',        2,      [C, C],      [1, 1, 0],    'ok'],
  [F.malformedAfter,                JSON_,    502,    '-',    'api_error',              '-',        3,      [C, C, C],   [3, 0, 0],    'upstream-error'],
  [F.malformedAfter,                STREAMS,  200,    2,      'api_error',              '-',        1,      [C],         [1, 1, 0],    'upstream-error'],

  // -- The end user goes away: Claude is aborted at once; neither success nor failure (after a commit: the commit's success); logged as 499.
  [F.leaveBeforeHeaders,            ALL,      'none', '-',    'aborted',                '-',        1,      [A],         [0, 0, 1],    'client-aborted'],
  [F.leaveBeforeFirstEvent,         ALL,      'none', '-',    'aborted',                '-',        1,      [A],         [0, 0, 1],    'client-aborted'],
  [F.leaveMidBody,                  JSON_,    'none', '-',    'aborted',                '-',        1,      [A],         [0, 0, 1],    'client-aborted'],
  [F.leaveMidStream,                STREAMS,  200,    1,      'aborted',                '-',        1,      [A],         [0, 1, 0],    'client-aborted'],

  // -- The caller's own deadline runs out: 504 before the commit, in-band timeout_error after; neutral for the breaker (after a commit: the commit's success).
  [F.deadlineBeforeHeaders,         ALL,      504,    '-',    'timeout_error',          '-',        1,      [A],         [0, 0, 1],    'deadline-exceeded'],
  [F.deadlineBeforeFirstEvent,      ALL,      504,    '-',    'timeout_error',          '-',        1,      [A],         [0, 0, 1],    'deadline-exceeded'],
  [F.deadlineMidBody,               JSON_,    504,    '-',    'timeout_error',          '-',        1,      [A],         [0, 0, 1],    'deadline-exceeded'],
  [F.deadlineMidStream,             STREAMS,  200,    'some', 'timeout_error',          '-',        1,      [A],         [0, 1, 0],    'deadline-exceeded'],
];

// ---- Expansion into cases ----------------------------------------------------------------------------

function modesOf(column: ModeColumn): readonly Mode[] {
  if (column === 'all') return MODES;
  if (column === 'streams') return ['anthropic', 'text'];
  return [column];
}

/** The table's rows for one mode, in table order. */
export function rowsFor(mode: Mode): Row[] {
  return TABLE.flatMap(([fault, column, status, deltas, final, retryAfter, attempts, upstream, breaker, log]) =>
    modesOf(column).includes(mode)
      ? [
          {
            fault,
            mode,
            status,
            // A complete non-streaming answer has no data events to count.
            deltas: mode === 'json' ? '-' : deltas,
            final: mode === 'json' && final === 'complete' ? 'message' : final,
            retryAfter: retryAfter === '-' ? undefined : retryAfter,
            attempts,
            upstream,
            breaker: { failures: breaker[0], successes: breaker[1], neutral: breaker[2] },
            log,
            title: `${fault.name} | ${mode}`,
          },
        ]
      : [],
  );
}

/** What the end user does in this row. */
export function clientAction(row: Row): ClientAction {
  const client = row.fault.client;
  if (client === undefined) return 'read';
  if (typeof client === 'string') return client;
  return client[row.mode] ?? 'read';
}

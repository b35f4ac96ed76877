import { errorTypeForStatus, toAnthropicErrorType, type AnthropicErrorType } from './anthropic-error-types.js';
import { isSpendLimitErrorCode } from './rate-limit-tracker.js';
import { readRetryAdvice } from './retry-after.js';
import { upstreamErrorCode, upstreamRequestId } from './upstream-headers.js';
import { ClientAbortedError, DeadlineExceededError, type Deadline } from './deadline.js';
import { AttemptTimeoutError, MalformedStreamError, StreamStallError, UpstreamStreamError } from './upstream-errors.js';

/**
 * What went wrong with an attempt: an HTTP error status, an in-band `event: error`, a lost
 * connection, the route's attempt timeout, a stalled stream, a malformed answer, the deadline, the
 * client leaving, or the caller's own code.
 *
 * @example
 * ```ts
 * if (final.type === 'error' && final.failure?.kind === 'stream-stalled') metrics.increment('stalls');
 * ```
 */
export type FailureKind =
  | 'http'
  | 'in-band'
  | 'connection'
  | 'attempt-timeout'
  | 'stream-stalled'
  | 'malformed'
  | 'deadline'
  | 'client-abort'
  | 'unknown';

/** What one failed attempt means for retrying, for the breaker and for the client. */
export interface AttemptFailure {
  kind: FailureKind;
  /** Upstream HTTP status, when there was one. */
  status: number | undefined;
  type: AnthropicErrorType;
  transient: boolean;
  /** How the breaker should count it: only upstream ill health is a failure. */
  breaker: 'failure' | 'neutral' | 'success';
  retryAfterMs: number | undefined;
  /** The upstream's `request-id`, only when well-formed and free of secrets. */
  upstreamRequestId: string | undefined;
  /** The upstream's own message. Unsanitized: never send it anywhere without redaction. */
  upstreamMessage: string | undefined;
  /** The upstream's `error.details.error_code`, only when shaped like one and free of secrets. */
  errorCode: string | undefined;
  error: unknown;
}

/** Facts the classifier cannot read off the error itself. */
export interface ClassifyContext {
  deadline: Deadline;
  countRateLimits: boolean;
  now: () => number;
  /** Secrets an upstream request id must not hold (see `upstreamRequestId`); none when absent. */
  secrets?: readonly string[] | undefined;
}

// Statuses the guard retries (the SDK's own list, spelled out). Everything else 4xx is final.
const TRANSIENT_STATUSES = new Set([408, 409, 429, 500, 502, 503, 504, 529]);
const NEVER_RETRY_STATUSES = new Set([400, 401, 402, 403, 404, 413, 422]);
const TRANSIENT_IN_BAND_TYPES = new Set(['overloaded_error', 'api_error', 'timeout_error', 'rate_limit_error']);

interface SdkLikeError {
  name: string;
  status?: number | undefined;
  headers?: Headers | undefined;
  type?: string | null;
  apiMessage?: string | null;
  requestID?: string | null;
  errorCode?: string | null;
}

// Duck-typed on purpose: the user's SDK copy may not be ours (ESM/CJS, nested installs).
function asSdkError(error: unknown): SdkLikeError | undefined {
  if (!(error instanceof Error)) return undefined;
  const candidate = error as Error & SdkLikeError;
  if (!candidate.name.endsWith('Error') || !('status' in candidate) || !('headers' in candidate)) return undefined;
  return candidate;
}

/**
 * Classifies one attempt's failure. The order matters: the client going away or the caller's
 * deadline running out explains any error the SDK surfaces at the same moment.
 *
 * @example
 * ```ts
 * const failure = classifyFailure(err, { deadline, countRateLimits: false, now: Date.now });
 * if (failure.transient) retry();
 * ```
 */
export function classifyFailure(error: unknown, context: ClassifyContext): AttemptFailure {
  const { deadline } = context;
  if (error instanceof ClientAbortedError || deadline.clientAborted) {
    return failure('client-abort', error, { type: 'api_error', breaker: 'neutral' });
  }
  if (error instanceof DeadlineExceededError || deadline.expired) {
    // The caller's own short budget says nothing about upstream health; the route's own does.
    const breaker = deadline.source === 'caller-header' ? 'neutral' : 'failure';
    // The SDK's own timeout (the time left) can fire a hair before the deadline's timer: name the deadline anyway.
    const reason =
      error instanceof DeadlineExceededError ? error : new DeadlineExceededError(deadline.source, deadline.budgetMs);
    return failure('deadline', reason, { type: 'timeout_error', breaker });
  }
  if (error instanceof AttemptTimeoutError) {
    return failure('attempt-timeout', error, { type: 'timeout_error', transient: true, breaker: 'failure' });
  }
  if (error instanceof StreamStallError) {
    return failure('stream-stalled', error, { type: 'timeout_error', transient: true, breaker: 'failure' });
  }
  if (error instanceof UpstreamStreamError) {
    const transient = TRANSIENT_IN_BAND_TYPES.has(error.type);
    return failure('in-band', error, {
      type: toAnthropicErrorType(error.type),
      transient,
      breaker:
        error.type === 'rate_limit_error' && !context.countRateLimits ? 'success' : transient ? 'failure' : 'success',
      upstreamMessage: error.upstreamMessage,
      errorCode: upstreamErrorCode(error.errorCode, context.secrets ?? []),
    });
  }
  if (error instanceof MalformedStreamError) {
    return failure('malformed', error, { type: 'api_error', transient: true, breaker: 'failure' });
  }

  const sdk = asSdkError(error);
  if (sdk) {
    if (sdk.name === 'APIUserAbortError') {
      // Aborted by a signal that was neither the client's nor the deadline's: treat as neutral.
      return failure('client-abort', error, { type: 'api_error', breaker: 'neutral' });
    }
    if (sdk.name === 'APIConnectionTimeoutError') {
      return failure('attempt-timeout', error, { type: 'timeout_error', transient: true, breaker: 'failure' });
    }
    if (sdk.status === undefined) {
      if (sdk.name === 'APIConnectionError') {
        return failure('connection', error, { type: 'api_error', transient: true, breaker: 'failure' });
      }
      // An in-band `event: error` read through the SDK's own stream iterator.
      const type = sdk.type ?? 'api_error';
      const transient = TRANSIENT_IN_BAND_TYPES.has(type);
      return failure('in-band', error, {
        type: toAnthropicErrorType(type),
        transient,
        breaker: transient ? 'failure' : 'success',
        upstreamMessage: sdk.apiMessage ?? undefined,
        errorCode: upstreamErrorCode(sdk.errorCode, context.secrets ?? []),
      });
    }
    const status = sdk.status;
    const advice = readRetryAdvice(sdk.headers, context.now);
    let transient = TRANSIENT_STATUSES.has(status) || (status >= 500 && status !== 501);
    if (advice.shouldRetry === false) transient = false;
    else if (advice.shouldRetry === true && !NEVER_RETRY_STATUSES.has(status)) transient = true;
    const unhealthy = status >= 500 || status === 408 || (status === 429 && context.countRateLimits);
    // A spend limit is the organization's billing state: retrying cannot succeed before its hold ends, and it
    // says nothing about the upstream's health (neither proof of it nor against it), whatever `x-should-retry` says.
    const spendLimit = status === 429 && isSpendLimitErrorCode(sdk.errorCode);
    if (spendLimit) transient = false;
    return failure('http', error, {
      status,
      type: toAnthropicErrorType(sdk.type ?? errorTypeForStatus(status)),
      transient,
      breaker: spendLimit ? 'neutral' : unhealthy ? 'failure' : 'success',
      retryAfterMs: advice.retryAfterMs,
      upstreamRequestId: upstreamRequestId(sdk.requestID, context.secrets ?? []),
      upstreamMessage: sdk.apiMessage ?? undefined,
      errorCode: upstreamErrorCode(sdk.errorCode, context.secrets ?? []),
    });
  }
  if (isSocketFailure(error)) {
    return failure('connection', error, { type: 'api_error', transient: true, breaker: 'failure' });
  }
  // Anything else came from the caller's own code inside `run()`: not the upstream's fault.
  return failure('unknown', error, { type: 'api_error', breaker: 'neutral' });
}

const SOCKET_ERROR_CODES = new Set(['UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNRESET', 'EPIPE']);

// A body cut off after the headers: fetch rejects the body read with TypeError('terminated'), the socket error as cause.
function isSocketFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code ?? (error.cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && SOCKET_ERROR_CODES.has(code);
}

function failure(
  kind: AttemptFailure['kind'],
  error: unknown,
  fields: Partial<AttemptFailure> & Pick<AttemptFailure, 'type' | 'breaker'>,
): AttemptFailure {
  return {
    kind,
    status: fields.status,
    type: fields.type,
    transient: fields.transient ?? false,
    breaker: fields.breaker,
    retryAfterMs: fields.retryAfterMs,
    upstreamRequestId: fields.upstreamRequestId,
    upstreamMessage: fields.upstreamMessage,
    errorCode: fields.errorCode,
    error,
  };
}

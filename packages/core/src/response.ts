import type { ClaudeGuardError } from './guard-error.js';
import { isForwardableRateLimit, upstreamRequestId as validRequestId } from './upstream-headers.js';

const JSON_TYPE = 'application/json';

/**
 * Whom an error response is about: the request's correlation id and the header it travels in.
 *
 * @example
 * ```ts
 * const ids: ErrorResponseIds = { requestId: 'req_1', requestIdHeader: 'x-correlation-id' };
 * ```
 */
export interface ErrorResponseIds {
  /** The request's correlation id: sent under `requestIdHeader` and as the body's `request_id`. */
  readonly requestId: string;
  /**
   * The guard's configured correlation header (its `requestIdHeader` option). Required on purpose: a
   * default here is how error answers once went out under `x-request-id` while successes used the configured name.
   */
  readonly requestIdHeader: string;
  /** The upstream's `request-id`, when one answered; else the error's own, if any. */
  readonly upstreamRequestId?: string | undefined;
}

/**
 * The sanitized error response every guarded route sends: the one place an error becomes a
 * `Response`. `x-should-retry: false` tells an SDK calling us not to stack its retries on top of
 * ours: we have already retried.
 *
 * @param error - The error to answer with; its message is already safe for a client.
 * @param ids - The request id and the configured header to send it under.
 * @returns An Anthropic-shaped JSON error response.
 *
 * @example
 * ```ts
 * return errorResponse(err, { requestId: 'req_1', requestIdHeader: 'x-request-id' });
 * ```
 */
export function errorResponse(error: ClaudeGuardError, ids: ErrorResponseIds): Response {
  const { requestId } = ids;
  const headers = new Headers(error.headers);
  headers.set('content-type', JSON_TYPE);
  headers.set('x-should-retry', 'false');
  headers.set(ids.requestIdHeader, requestId);
  // Checked again here (shape only: no secrets at hand) because this is exported and may be given anything.
  const upstream = validRequestId(ids.upstreamRequestId ?? error.upstreamRequestId, []);
  if (upstream) headers.set('x-upstream-request-id', upstream);
  // What an Anthropic SDK calling us reads as `error.requestID`: the upstream's id, else ours.
  headers.set('request-id', upstream ?? requestId);
  // 499 is ours for "client went away"; nobody reads it, but a Response needs a valid status.
  const status = error.status >= 200 && error.status <= 599 ? error.status : 500;
  return new Response(JSON.stringify(error.toBody(requestId)), { status, headers });
}

/** A JSON success response. */
export function jsonResponse(body: unknown, headers: Headers): Response {
  headers.set('content-type', JSON_TYPE);
  return new Response(JSON.stringify(body), { status: 200, headers });
}

/**
 * Copies the upstream headers a passthrough forwards: `request-id` (also as `x-upstream-request-id`) and the
 * documented `anthropic-ratelimit-*` family, each only when its value has the expected shape and holds no secret
 * (see `upstreamRequestId` and {@link isForwardableRateLimit} in upstream-headers.ts); anything else is dropped.
 *
 * @param from - The upstream response's headers.
 * @param to - The headers of the response being built.
 * @param secrets - The configured secrets, such as the API key in use.
 *
 * @example
 * ```ts
 * forwardUpstreamHeaders(upstream.headers, headers, route.secrets);
 * ```
 */
export function forwardUpstreamHeaders(from: Headers, to: Headers, secrets: readonly string[] = []): void {
  const requestId = validRequestId(from.get('request-id'), secrets);
  if (requestId) {
    to.set('request-id', requestId);
    to.set('x-upstream-request-id', requestId);
  }
  from.forEach((value, name) => {
    if (name.startsWith('anthropic-ratelimit-') && isForwardableRateLimit(name, value, secrets)) to.set(name, value);
  });
}

import type { ClaudeGuardError } from './guard-error.js';
import { isForwardableRateLimit, upstreamRequestId as validRequestId } from './upstream-headers.js';

const JSON_TYPE = 'application/json';

/**
 * The sanitized error response every guarded route sends. `x-should-retry: false` tells an SDK
 * calling us not to stack its retries on top of ours: we have already retried.
 *
 * @example
 * ```ts
 * return errorResponse(err, 'req_1');
 * ```
 */
export function errorResponse(
  error: ClaudeGuardError,
  requestId: string,
  upstreamRequestId?: string,
  requestIdHeader = 'x-request-id',
): Response {
  const headers = new Headers(error.headers);
  headers.set('content-type', JSON_TYPE);
  headers.set('x-should-retry', 'false');
  headers.set(requestIdHeader, requestId);
  // Checked again here (shape only: no secrets at hand) because this is exported and may be given anything.
  const upstream = validRequestId(upstreamRequestId ?? error.upstreamRequestId, []);
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
 * forwardUpstreamHeaders(upstream.headers, headers, runtime.guard.secrets);
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

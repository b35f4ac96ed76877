import { DeadlineExceededError } from './deadline.js';
import { beginRequest } from './guarded-request.js';
import { ClaudeGuardError } from './guard-error.js';
import { readBodyText } from './read-body.js';
import { forwardUpstreamHeaders, jsonResponse } from './response.js';
import type { RouteRuntime } from './route-runtime.js';
import { jsonNestingExceeds, MAX_JSON_DEPTH, validateMessagesBody } from './validate-request.js';

/**
 * For answers given without reading the whole request body: the server drops the unread bytes
 * (or the connection), so the client must not send its next request on this one (RFC 9112 §9.6).
 */
function closingConnection(response: Response): Response {
  response.headers.set('connection', 'close');
  return response;
}

const lowerFirst = (text: string): string => text.charAt(0).toLowerCase() + text.slice(1);

function badRequest(status: 400 | 413 | 415, type: 'invalid_request_error' | 'request_too_large', message: string) {
  return new ClaudeGuardError({ status, type, message, outcome: 'bad-request' });
}

/**
 * The Anthropic-compatible passthrough, in Web terms (a `Request` in, a `Response` out): validates,
 * then forwards to Claude under the route's deadline, retry policy and breaker, streaming when the
 * body says `"stream": true`. A request refused before Claude is called (415, 413, 400, 408) touches
 * no breaker and still writes one log line.
 *
 * @param runtime - The route's runtime.
 * @param request - The incoming `POST /v1/messages`.
 * @returns The answer: the upstream's Message, an SSE stream, or an Anthropic-shaped error.
 *
 * @example
 * ```ts
 * const response = await handleProxy(runtime, request);
 * ```
 */
export async function handleProxy(runtime: RouteRuntime, request: Request): Promise<Response> {
  const begun = beginRequest(runtime, { headers: request.headers, signal: request.signal }, true);
  if (!begun.ok) {
    await request.body?.cancel().catch(() => undefined);
    return closingConnection(begun.response);
  }
  const call = begun.call;
  // Every `call.reject` below answers before Claude is called: one log line with the error's
  // outcome, no breaker touched.
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    await request.body?.cancel().catch(() => undefined);
    return closingConnection(
      call.reject(badRequest(415, 'invalid_request_error', 'content-type must be application/json')),
    );
  }
  // Reading the body spends the request's budget: a body that never ends is cut off at the deadline.
  const read = await readBodyText(request, runtime.config.proxy.maxBodyBytes, call.deadline.signal);
  if (read.kind === 'aborted' || read.kind === 'broken') {
    const reason: unknown = call.deadline.signal.reason;
    if (read.kind === 'aborted' && reason instanceof DeadlineExceededError) {
      // 408, not 504: the client was too slow to send its request; no gateway (Claude) was waited on.
      const message = `The request body was not received in time: ${lowerFirst(reason.message)}; Claude was not called`;
      return closingConnection(
        call.reject(
          new ClaudeGuardError({ status: 408, type: 'timeout_error', message, outcome: 'deadline-exceeded' }),
        ),
      );
    }
    // The client went away mid-body (its socket closed, the body stream failed): a disconnect like any other.
    call.deadline.abortForClient();
    const response = call.errorResponse(call.deadline.signal.reason);
    call.end(499);
    return closingConnection(response);
  }
  if (read.kind === 'too-large') {
    return closingConnection(
      call.reject(
        badRequest(
          413,
          'request_too_large',
          `The request body exceeds this route's limit of ${runtime.config.proxy.maxBodyBytes} bytes`,
        ),
      ),
    );
  }
  if (read.kind === 'not-utf8') {
    return call.reject(badRequest(400, 'invalid_request_error', 'The request body is not valid UTF-8'));
  }
  if (jsonNestingExceeds(read.text, MAX_JSON_DEPTH)) {
    return call.reject(
      badRequest(400, 'invalid_request_error', `The request body nests more than ${MAX_JSON_DEPTH} levels deep`),
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(read.text);
  } catch {
    return call.reject(badRequest(400, 'invalid_request_error', 'The request body is not valid JSON'));
  }
  const check = validateMessagesBody(body, runtime.config.proxy);
  if (!check.ok) return call.reject(badRequest(check.status, check.type, check.message));

  const { params } = check;
  if (check.stream) {
    const response = await call.stream(params);
    call.end(response.status);
    return response;
  }
  let response: Response;
  try {
    const result = await call.createMessageWithResponse(params);
    const headers = call.responseHeaders();
    if (result.response) forwardUpstreamHeaders(result.response.headers, headers, runtime.secrets);
    response = jsonResponse(result.data, headers);
  } catch (error) {
    response = call.errorResponse(error);
  }
  call.end(call.deadline.clientAborted ? 499 : response.status);
  return response;
}

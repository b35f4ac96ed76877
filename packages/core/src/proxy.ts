import { GuardedCall } from './guarded-call.js';
import { ClaudeGuardError } from './guard-error.js';
import { errorResponse, forwardUpstreamHeaders, jsonResponse } from './response.js';
import type { RouteRuntime } from './route-runtime.js';
import { jsonNestingExceeds, MAX_JSON_DEPTH, readBodyText, validateMessagesBody } from './validate-request.js';

/**
 * For answers given without reading the whole request body: the server drops the unread bytes
 * (or the connection), so the client must not send its next request on this one (RFC 9112 §9.6).
 */
function closingConnection(response: Response): Response {
  response.headers.set('connection', 'close');
  return response;
}

function badRequest(status: 400 | 413 | 415, type: 'invalid_request_error' | 'request_too_large', message: string) {
  return new ClaudeGuardError({ status, type, message, outcome: 'bad-request' });
}

/**
 * @internal The Anthropic-compatible passthrough: validates, then forwards to Claude under the
 * guard, streaming when the body says `"stream": true`.
 */
export async function handleProxy(runtime: RouteRuntime, request: Request): Promise<Response> {
  const begun = GuardedCall.begin(runtime, { headers: request.headers, signal: request.signal }, true);
  if (!begun.ok) {
    await request.body?.cancel().catch(() => undefined);
    return closingConnection(begun.response);
  }
  const call = begun.call;
  const reject = (error: ClaudeGuardError) => {
    const response = errorResponse(error, call.requestId);
    call.setOutcome('bad-request');
    call.end(response.status);
    return response;
  };
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    await request.body?.cancel().catch(() => undefined);
    return closingConnection(reject(badRequest(415, 'invalid_request_error', 'content-type must be application/json')));
  }
  const read = await readBodyText(request, runtime.config.proxy.maxBodyBytes);
  if (read.tooLarge) {
    return closingConnection(
      reject(
        badRequest(
          413,
          'request_too_large',
          `The request body exceeds this route's limit of ${runtime.config.proxy.maxBodyBytes} bytes`,
        ),
      ),
    );
  }
  if (jsonNestingExceeds(read.text, MAX_JSON_DEPTH)) {
    return reject(
      badRequest(400, 'invalid_request_error', `The request body nests more than ${MAX_JSON_DEPTH} levels deep`),
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(read.text);
  } catch {
    return reject(badRequest(400, 'invalid_request_error', 'The request body is not valid JSON'));
  }
  const check = validateMessagesBody(body, runtime.config.proxy);
  if (!check.ok) return reject(badRequest(check.status, check.type, check.message));

  const { params } = check;
  if (check.stream) {
    const response = await call.claude.stream(params);
    call.end(response.status);
    return response;
  }
  let response: Response;
  try {
    const result = await call.createMessageWithResponse(params);
    const headers = call.responseHeaders();
    if (result.response) forwardUpstreamHeaders(result.response.headers, headers);
    response = jsonResponse(result.data, headers);
  } catch (error) {
    response = call.errorResponse(error);
  }
  call.end(call.deadline.clientAborted ? 499 : response.status);
  return response;
}

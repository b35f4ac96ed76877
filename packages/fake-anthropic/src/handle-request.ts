import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AnthropicErrorType } from './error-type.js';
import { defaultErrorCodeMessage, defaultErrorMessage, errorTypeForStatus, statusForErrorType } from './error-type.js';
import type { Fault, StatusFault } from './fault.js';
import type { FaultSource } from './fault-source.js';
import type { FirstEventDelayChoice, ResolvedOptions } from './options.js';
import { FAULT_HEADER, parseFaultHeader } from './parse-fault-header.js';
import type { RateLimiter } from './rate-limit-budget.js';
import type { Reply } from './reply.js';
import { buildReply, countInputTokens } from './reply.js';
import type { MutableRecord, RequestOutcome } from './request-record.js';
import type { ResponseWriter } from './response-writer.js';
import { createResponseWriter } from './response-writer.js';
import { sleep, waitForAbort } from './sleep.js';
import type { MessagesRequest } from './validate-request.js';
import { validateCountTokensRequest, validateMessagesRequest } from './validate-request.js';
import { errorJson, inBandErrorEvent, malformedEvent, messageJson, streamEvents } from './wire-format.js';

// The real API's request-size limit for the Messages endpoint.
const MAX_BODY_BYTES = 32 * 1024 * 1024;

// Index of the first content_block_delta in streamEvents(): after message_start, content_block_start, ping.
const FIRST_DELTA = 3;

/**
 * What the server shares with every request handler.
 *
 * @example
 * ```ts
 * const context: HandlerContext = { config, faults, rateLimits, nextMessageId: () => 'msg_1' };
 * ```
 */
export type HandlerContext = {
  readonly config: ResolvedOptions;
  readonly faults: FaultSource;
  /** Reports the `anthropic-ratelimit-*` headers of every response and admits Messages requests. */
  readonly rateLimits: RateLimiter;
  readonly nextMessageId: () => string;
  /** Draws one request's first-event delay from `firstEventDelays`. */
  readonly drawDelay: (choices: readonly FirstEventDelayChoice[]) => number;
};

/**
 * One request's record and lifetime, owned by the server.
 *
 * @example
 * ```ts
 * const scope: RequestScope = { record, signal: controller.signal, settle: (outcome) => finish(record, outcome) };
 * ```
 */
export type RequestScope = {
  readonly record: MutableRecord;
  /** Aborted when the connection closes, for whatever reason. */
  readonly signal: AbortSignal;
  /** Settles the outcome; the first call wins. */
  readonly settle: (outcome: RequestOutcome) => void;
};

/**
 * Serves one request: reads the body, picks the fault (header, then script, then random rate), checks
 * auth and the body, and writes the JSON or SSE answer. Returns early, writing nothing more, as soon as
 * `scope.signal` aborts.
 *
 * @param req - the incoming request
 * @param res - its response
 * @param scope - the record and lifetime of this request
 * @param context - the server's shared state
 * @returns a promise that settles when the handler has nothing more to do
 * @example
 * ```ts
 * handleRequest(req, res, scope, context).catch(onBug);
 * ```
 */
export async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  scope: RequestScope,
  context: HandlerContext,
): Promise<void> {
  const { record, signal } = scope;
  const body = await readBody(req);
  if (body === undefined) return; // the connection closed mid-body; the close handler settles the record

  let parsed: unknown;
  let isJson = false;
  try {
    parsed = JSON.parse(body.text);
    isJson = true;
  } catch {
    parsed = body.text;
  }
  record.body = parsed;

  const send = sender(res, record, context.rateLimits);
  const route =
    req.method !== 'POST'
      ? undefined
      : record.path === '/v1/messages'
        ? 'messages'
        : record.path === '/v1/messages/count_tokens'
          ? 'count_tokens'
          : undefined;
  if (route === undefined) {
    send.error(404, 'not_found_error', `Not found: ${record.method} ${record.path}`);
    return;
  }
  record.stream = route === 'messages' && isRecord(parsed) && parsed.stream === true;

  // --- Fault selection: header > queued script > random rate.
  const headerValues = req.headersDistinct[FAULT_HEADER];
  const headerValue = headerValues?.[headerValues.length - 1];
  const fromSource = context.faults.next(headerValue !== undefined);
  let fault: Fault | undefined = fromSource;
  if (headerValue !== undefined) {
    try {
      fault = parseFaultHeader(headerValue);
    } catch (err) {
      send.error(400, 'invalid_request_error', err instanceof Error ? err.message : String(err));
      return;
    }
  }

  // --- Faults that act before the API would even look at the request.
  if (fault?.kind === 'delay-headers') {
    record.fault = fault;
    if (!(await sleep(fault.ms, signal))) return;
    fault = undefined;
  }
  if (fault?.kind === 'reset' && fault.afterEvents === undefined) {
    record.fault = fault;
    scope.settle('reset');
    // An RST, not a FIN: clients report it as a connection error, as with a real dropped connection.
    req.socket.resetAndDestroy();
    return;
  }
  if (fault?.kind === 'status') {
    record.fault = fault;
    sendStatusFault(send, fault, apiKeyOf(req));
    return;
  }
  if (fault?.kind === 'stall' && !record.stream) {
    record.fault = fault;
    await waitForAbort(signal);
    return;
  }

  // --- The API's own checks.
  const apiKey = apiKeyOf(req);
  if (apiKey === undefined) {
    send.error(401, 'authentication_error', 'x-api-key header is required');
    return;
  }
  if (context.config.apiKeys !== undefined && !context.config.apiKeys.has(apiKey)) {
    send.error(401, 'authentication_error', 'invalid x-api-key');
    return;
  }
  if (body.tooLarge) {
    send.error(413, 'request_too_large', defaultErrorMessage('request_too_large'));
    return;
  }
  if (!isJson) {
    send.error(400, 'invalid_request_error', 'There was an error parsing the body: it is not valid JSON');
    return;
  }

  if (route === 'count_tokens') {
    const valid = validateCountTokensRequest(parsed);
    if (!valid.ok) {
      send.error(400, 'invalid_request_error', valid.message);
      return;
    }
    if (fault !== undefined) record.fault = fault;
    const text = JSON.stringify({ input_tokens: countInputTokens(valid.value) });
    await sendJson(res, scope, send, text, fault);
    return;
  }

  const valid = validateMessagesRequest(parsed);
  if (!valid.ok) {
    send.error(400, 'invalid_request_error', valid.message);
    return;
  }
  const request = valid.value;
  const behaviour = context.faults.behaviour();
  const reply = buildReply(request, behaviour.replyWords);
  // The scripted budget: a request that does not fit is refused like the API does, before any fault of
  // its own acts, and costs nothing.
  const admission = context.rateLimits.admit(reply.inputTokens, reply.outputTokens);
  if (!admission.admitted) {
    record.rateLimited = admission.family;
    send.error(429, 'rate_limit_error', admission.message, { 'retry-after': String(admission.retryAfterSeconds) });
    return;
  }
  // A delay-headers fault has already been recorded and consumed; keep it in the log.
  if (fault !== undefined) record.fault = fault;
  const timing = {
    firstEventDelayMs:
      (fault?.kind === 'slow' ? fault.firstEventDelayMs : undefined) ??
      (behaviour.firstEventDelays === undefined
        ? behaviour.firstEventDelayMs
        : context.drawDelay(behaviour.firstEventDelays)),
    tokenDelayMs: (fault?.kind === 'slow' ? fault.tokenDelayMs : undefined) ?? behaviour.tokenDelayMs,
  };
  const messageId = context.nextMessageId();
  if (record.stream) {
    await sendStream(res, scope, send, { request, reply, messageId, timing }, fault);
    return;
  }
  // A non-streaming answer arrives only once the whole reply is "generated".
  const generationMs = timing.firstEventDelayMs + timing.tokenDelayMs * reply.deltas.length;
  if (!(await sleep(generationMs, signal))) return;
  await sendJson(res, scope, send, messageJson(reply, request.model, messageId), fault);
}

type Sender = {
  /** Writes the status line and headers: the rate-limit family as of now plus `extra` (names lowercased). */
  head(status: number, headers: OutgoingHttpHeaders): void;
  error(
    status: number,
    type: AnthropicErrorType,
    message: string,
    extra?: Readonly<Record<string, string>>,
    errorCode?: string,
  ): void;
};

function sender(res: ServerResponse, record: MutableRecord, rateLimits: RateLimiter): Sender {
  const head: Sender['head'] = (status, headers) => {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { ...rateLimits.headers(), ...headers });
    record.status = status;
  };
  return {
    head,
    error(status, type, message, extra = {}, errorCode) {
      if (res.headersSent || res.destroyed) return;
      const text = errorJson(type, message, record.id, errorCode);
      const lowered = Object.fromEntries(Object.entries(extra).map(([k, v]) => [k.toLowerCase(), v]));
      head(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...lowered });
      res.end(text);
    },
  };
}

function sendStatusFault(send: Sender, fault: StatusFault, apiKey: string | undefined): void {
  const type = fault.type ?? errorTypeForStatus(fault.status);
  const codeMessage = fault.errorCode === undefined ? undefined : defaultErrorCodeMessage(fault.errorCode);
  let message = fault.message ?? codeMessage ?? defaultErrorMessage(type);
  // Deliberately leaky, like a misconfigured upstream: security tests prove the guard scrubs it.
  if (fault.echoApiKey === true) message = `${message} (api key: ${apiKey ?? 'none'})`;
  send.error(fault.status, type, message, fault.headers, fault.errorCode);
}

async function sendJson(
  res: ServerResponse,
  scope: RequestScope,
  send: Sender,
  text: string,
  fault: Fault | undefined,
): Promise<void> {
  if (fault?.kind === 'in-band-error') {
    // No stream to carry it: answer with the status the API pairs with the type.
    const type = fault.type ?? 'overloaded_error';
    send.error(statusForErrorType(type), type, fault.message ?? defaultErrorMessage(type));
    return;
  }
  const half = text.slice(0, Math.floor(text.length / 2));
  const payload = fault?.kind === 'malformed' ? half : text;
  send.head(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  const writer = createResponseWriter(res, scope.signal, fault?.kind === 'trickle' ? fault : undefined);
  if (fault?.kind === 'reset') {
    // Content-Length promises the whole body; the client sees it cut off halfway.
    if (!(await writer.write(half))) return;
    scope.settle('reset');
    await writer.cut();
    return;
  }
  if (!(await writer.write(payload))) return;
  res.end();
}

type StreamPlan = {
  readonly request: MessagesRequest;
  readonly reply: Reply;
  readonly messageId: string;
  readonly timing: { readonly firstEventDelayMs: number; readonly tokenDelayMs: number };
};

async function sendStream(
  res: ServerResponse,
  scope: RequestScope,
  send: Sender,
  plan: StreamPlan,
  fault: Fault | undefined,
): Promise<void> {
  const { record, signal } = scope;
  send.head(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
  });
  // Send the headers now: the client's timeout stops at headers, and a stall must come after them.
  res.flushHeaders();
  const writer = createResponseWriter(res, signal, fault?.kind === 'trickle' ? fault : undefined);
  const events = streamEvents(plan.reply, plan.request.model, plan.messageId);
  const stopAt = stopPoint(fault, events.length);

  if (!(await sleep(plan.timing.firstEventDelayMs, signal))) return;
  for (let i = 0; i < events.length; i += 1) {
    if (i === stopAt) {
      await interrupt(res, scope, writer, fault);
      return;
    }
    const isLaterDelta = i > FIRST_DELTA && i < FIRST_DELTA + plan.reply.deltas.length;
    if (isLaterDelta && !(await sleep(plan.timing.tokenDelayMs, signal))) return;
    if (!(await writer.write(events[i] as string))) return;
    record.eventsSent += 1;
  }
  if (stopAt === events.length) {
    await interrupt(res, scope, writer, fault);
    return;
  }
  res.end();
}

/** The event count after which a stream fault acts, clamped to the stream's length; undefined if none. */
function stopPoint(fault: Fault | undefined, total: number): number | undefined {
  switch (fault?.kind) {
    case 'stall':
    case 'in-band-error':
    case 'malformed':
    case 'reset':
      return Math.min(fault.afterEvents ?? 0, total);
    default:
      return undefined;
  }
}

async function interrupt(
  res: ServerResponse,
  scope: RequestScope,
  writer: ResponseWriter,
  fault: Fault | undefined,
): Promise<void> {
  switch (fault?.kind) {
    case 'stall':
      await waitForAbort(scope.signal);
      return;
    case 'in-band-error': {
      const type = fault.type ?? 'overloaded_error';
      if (!(await writer.write(inBandErrorEvent(type, fault.message ?? defaultErrorMessage(type))))) return;
      scope.record.eventsSent += 1;
      res.end();
      return;
    }
    case 'malformed':
      if (!(await writer.write(malformedEvent()))) return;
      scope.record.eventsSent += 1;
      res.end();
      return;
    case 'reset':
      scope.settle('reset');
      await writer.cut();
      return;
    default:
      res.end();
  }
}

async function readBody(req: IncomingMessage): Promise<{ text: string; tooLarge: boolean } | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      // Keep draining past the limit so the 413 can still be sent on a healthy connection.
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    }
  } catch {
    return undefined;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), tooLarge: size > MAX_BODY_BYTES };
}

function apiKeyOf(req: IncomingMessage): string | undefined {
  const key = req.headers['x-api-key'];
  if (typeof key === 'string' && key !== '') return key;
  const match = /^Bearer\s+(\S.*)$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

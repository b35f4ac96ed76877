import type { AnthropicErrorType } from './error-type.js';
import type { Reply } from './reply.js';

/**
 * Formats one server-sent event exactly as the API does: `event: NAME`, `data: JSON`, blank line.
 *
 * @param name - the event name
 * @param data - the already-serialized data line
 * @returns the event's bytes as a string
 * @example
 * ```ts
 * sseEvent('message_stop', '{"type":"message_stop"}'); // 'event: message_stop\ndata: {"type":"message_stop"}\n\n'
 * ```
 */
export function sseEvent(name: string, data: string): string {
  return `event: ${name}\ndata: ${data}\n\n`;
}

/**
 * The non-streaming message body.
 *
 * @param reply - the deterministic reply
 * @param model - echoed from the request
 * @param id - the message id
 * @returns the JSON text of the message
 * @example
 * ```ts
 * JSON.parse(messageJson(reply, 'claude-sonnet-5', 'msg_1')).stop_reason; // 'end_turn'
 * ```
 */
export function messageJson(reply: Reply, model: string, id: string): string {
  return JSON.stringify({
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text: reply.text }],
    stop_reason: reply.stopReason,
    stop_sequence: null,
    usage: { input_tokens: reply.inputTokens, output_tokens: reply.outputTokens },
  });
}

/**
 * Every event of a successful stream, in the wire order: message_start, content_block_start, ping,
 * one content_block_delta per word, content_block_stop, message_delta, message_stop.
 *
 * @param reply - the deterministic reply
 * @param model - echoed from the request
 * @param id - the message id
 * @returns the encoded events, ready to write
 * @example
 * ```ts
 * streamEvents(reply, 'claude-sonnet-5', 'msg_1').length; // reply.deltas.length + 6
 * ```
 */
export function streamEvents(reply: Reply, model: string, id: string): string[] {
  const start = {
    type: 'message_start',
    message: {
      id,
      type: 'message',
      role: 'assistant',
      content: [],
      model,
      stop_reason: null,
      stop_sequence: null,
      // The API reports one output token at message_start; the final count comes in message_delta.
      usage: { input_tokens: reply.inputTokens, output_tokens: 1 },
    },
  };
  return [
    sseEvent('message_start', JSON.stringify(start)),
    sseEvent(
      'content_block_start',
      JSON.stringify({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    ),
    // Byte-for-byte what the API sends, space included.
    sseEvent('ping', '{"type": "ping"}'),
    ...reply.deltas.map((text) =>
      sseEvent(
        'content_block_delta',
        JSON.stringify({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }),
      ),
    ),
    sseEvent('content_block_stop', JSON.stringify({ type: 'content_block_stop', index: 0 })),
    sseEvent(
      'message_delta',
      JSON.stringify({
        type: 'message_delta',
        delta: { stop_reason: reply.stopReason, stop_sequence: null },
        usage: { output_tokens: reply.outputTokens },
      }),
    ),
    sseEvent('message_stop', JSON.stringify({ type: 'message_stop' })),
  ];
}

/**
 * The error body sent before any stream: `{"type":"error","error":{...},"request_id":"req_..."}`. With an
 * `errorCode`, `error.details` is `{"error_code": ...}`, as SDK 1.5 and later read it (`APIError.errorCode`).
 *
 * @param type - `error.type`
 * @param message - `error.message`
 * @param requestId - the request id, also sent as the `request-id` header
 * @param errorCode - `error.details.error_code`, when set
 * @returns the JSON text
 * @example
 * ```ts
 * errorJson('overloaded_error', 'Overloaded', 'req_1');
 * errorJson('rate_limit_error', 'Spend limit reached', 'req_2', 'enforced_spend_limit_reached');
 * ```
 */
export function errorJson(type: AnthropicErrorType, message: string, requestId: string, errorCode?: string): string {
  const error = errorCode === undefined ? { type, message } : { type, message, details: { error_code: errorCode } };
  return JSON.stringify({ type: 'error', error, request_id: requestId });
}

/**
 * The in-band `event: error` that ends a failing stream (no `request_id`, as on the wire).
 *
 * @param type - `error.type`
 * @param message - `error.message`
 * @returns the encoded event
 * @example
 * ```ts
 * inBandErrorEvent('overloaded_error', 'Overloaded');
 * // 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
 * ```
 */
export function inBandErrorEvent(type: AnthropicErrorType, message: string): string {
  return sseEvent('error', JSON.stringify({ type: 'error', error: { type, message } }));
}

/**
 * A `content_block_delta` event whose data line is cut off mid-JSON, for the malformed-SSE fault.
 *
 * @returns the encoded, deliberately broken event
 * @example
 * ```ts
 * malformedEvent(); // 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_de\n\n'
 * ```
 */
export function malformedEvent(): string {
  return sseEvent('content_block_delta', '{"type":"content_block_delta","index":0,"delta":{"type":"text_de');
}

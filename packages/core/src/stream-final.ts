import type { ClaudeMessage } from './claude-client.js';
import type { ClaudeGuardError } from './guard-error.js';
import type { RecordedFailure } from './request-record.js';
import { JSON_CHARS_PER_TOKEN, TEXT_CHARS_PER_TOKEN } from './token-estimate.js';

/**
 * What a guarded stream's `onFinal` receives, once, after the stream has ended or been aborted:
 * - `message`: the stream completed (`message_stop`); `message` is the whole Message, assembled from
 *   the events (text, `tool_use` with its input parsed, thinking with its signature, citations),
 *   with its `stop_reason` and final `usage`.
 * - `aborted`: the client went away; `message` is what had been sent to it (`undefined` if nothing
 *   had), its `usage.output_tokens` the last count the upstream reported.
 * - `error`: the stream failed, before its commit (the client got an error status) or after it (an
 *   in-band `error` event); `error` is what the client was told, `failure` what happened upstream
 *   (its message redacted, its `error_code`), `message` what had been sent.
 *
 * The API reports output tokens at a stream's start (usually 1) and at its end only, so for a stream
 * cut short `estimatedOutputTokens` is the larger of the last count reported and an estimate from
 * what arrived (3.5 characters of text or thinking, 4 of tool-input JSON, per token): the upstream
 * generated at least that much.
 *
 * @example
 * ```ts
 * await req.claude.stream(res, params, {
 *   onFinal: async (final) => {
 *     if (final.type !== 'error' && final.message) await usage.charge(userId, final.message.usage);
 *     if (final.type === 'message') await db.saveReply(chatId, final.message);
 *   },
 * });
 * ```
 */
export type StreamFinal =
  | { type: 'message'; message: ClaudeMessage; requestId: string; upstreamRequestId: string | undefined }
  | {
      type: 'aborted';
      message: ClaudeMessage | undefined;
      estimatedOutputTokens: number | undefined;
      requestId: string;
      upstreamRequestId: string | undefined;
    }
  | {
      type: 'error';
      /** The sanitized error the client got (its status before a commit, an in-band event after). */
      error: ClaudeGuardError;
      /** The upstream failure behind it, classified and redacted; `undefined` when nothing upstream failed (an open breaker). */
      failure: RecordedFailure | undefined;
      message: ClaudeMessage | undefined;
      estimatedOutputTokens: number | undefined;
      requestId: string;
      upstreamRequestId: string | undefined;
    };

type Block = Record<string, unknown>;
type Usage = Record<string, unknown>;

// Blocks whose input arrives as `input_json_delta` fragments.
const JSON_INPUT_BLOCKS: ReadonlySet<unknown> = new Set(['tool_use', 'server_tool_use', 'mcp_tool_use']);

/**
 * @internal Builds a stream's Message from its events as they are forwarded, the way the SDK's
 * `MessageStream` accumulates one: only for a stream that asked for `onFinal`. Events it does not
 * know are ignored; it never throws.
 */
export class MessageAssembler {
  #message: (Block & { content: Block[]; usage: Usage }) | undefined;
  /** `input_json_delta` text per tool block, parsed at its `content_block_stop` (or at the end). */
  readonly #json = new Map<number, string>();
  /** Characters of text and thinking, and of tool-input JSON, received: for the estimate. */
  #proseChars = 0;
  #jsonChars = 0;

  /** One event, already parsed: its name and its data. */
  add(name: string, data: Record<string, unknown>): void {
    if (name === 'message_start') {
      const message = asObject(data['message']);
      if (!message) return;
      const content = Array.isArray(message['content']) ? (message['content'] as Block[]) : [];
      this.#message = {
        ...message,
        content: content.map((block) => ({ ...block })),
        usage: { ...asObject(message['usage']) },
      };
      this.#json.clear();
      this.#proseChars = 0;
      this.#jsonChars = 0;
      return;
    }
    const message = this.#message;
    if (!message) return;
    const index = data['index'];
    switch (name) {
      case 'content_block_start': {
        const block = asObject(data['content_block']);
        if (typeof index !== 'number' || !block) return;
        message.content[index] = { ...block };
        if (JSON_INPUT_BLOCKS.has(block['type'])) this.#json.set(index, '');
        return;
      }
      case 'content_block_delta': {
        const block = typeof index === 'number' ? message.content[index] : undefined;
        const delta = asObject(data['delta']);
        if (block && delta) this.#applyDelta(index as number, block, delta);
        return;
      }
      case 'content_block_stop':
        if (typeof index === 'number') this.#parseInput(index);
        return;
      case 'message_delta': {
        // stop_reason, stop_sequence, stop_details, and a container when there is one (as the SDK takes them).
        for (const [key, value] of Object.entries(asObject(data['delta']) ?? {})) {
          if (key !== 'container' || (value !== null && value !== undefined)) message[key] = value;
        }
        // Counts are cumulative: each one reported replaces the one held (null ones do not).
        for (const [key, value] of Object.entries(asObject(data['usage']) ?? {})) {
          if (value !== null && value !== undefined) message.usage[key] = value;
        }
        return;
      }
    }
  }

  /** The Message as assembled so far, tool inputs parsed; `undefined` before `message_start`. */
  result(): ClaudeMessage | undefined {
    const message = this.#message;
    if (!message) return undefined;
    for (const index of [...this.#json.keys()]) this.#parseInput(index);
    // Blocks that never started (an index skipped) leave no hole.
    message.content = message.content.filter((block) => block !== undefined);
    return message as unknown as ClaudeMessage;
  }

  /**
   * Output tokens at least generated: the larger of the last count reported and an estimate from the
   * characters received; `undefined` before `message_start`.
   */
  estimatedOutputTokens(): number | undefined {
    const message = this.#message;
    if (!message) return undefined;
    const reported = message.usage['output_tokens'];
    const estimate = Math.ceil(this.#proseChars / TEXT_CHARS_PER_TOKEN + this.#jsonChars / JSON_CHARS_PER_TOKEN);
    return Math.max(typeof reported === 'number' ? reported : 0, estimate);
  }

  #applyDelta(index: number, block: Block, delta: Record<string, unknown>): void {
    switch (delta['type']) {
      case 'text_delta': {
        const text = delta['text'];
        if (typeof text !== 'string') return;
        block['text'] = `${stringOr(block['text'])}${text}`;
        this.#proseChars += text.length;
        return;
      }
      case 'input_json_delta': {
        const buffered = this.#json.get(index);
        const json = delta['partial_json'];
        if (buffered !== undefined && typeof json === 'string') {
          this.#json.set(index, buffered + json);
          this.#jsonChars += json.length;
        }
        return;
      }
      case 'thinking_delta': {
        const thinking = delta['thinking'];
        if (typeof thinking !== 'string') return;
        block['thinking'] = `${stringOr(block['thinking'])}${thinking}`;
        this.#proseChars += thinking.length;
        return;
      }
      case 'signature_delta':
        if (typeof delta['signature'] === 'string') block['signature'] = delta['signature'];
        return;
      case 'citations_delta': {
        const citations = Array.isArray(block['citations']) ? (block['citations'] as unknown[]) : [];
        block['citations'] = [...citations, delta['citation']];
        return;
      }
    }
  }

  /** A tool block's input from its JSON text; text cut off (an aborted stream) leaves the input it had. */
  #parseInput(index: number): void {
    const text = this.#json.get(index);
    if (text === undefined) return;
    this.#json.delete(index);
    const block = this.#message?.content[index];
    if (!block || text === '') return;
    try {
      block['input'] = JSON.parse(text) as unknown;
    } catch {
      // Incomplete JSON: the stream ended mid-input.
    }
  }
}

function asObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function stringOr(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

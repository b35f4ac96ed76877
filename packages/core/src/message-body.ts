import type { ClaudeMessage } from './claude-client.js';
import { MalformedStreamError } from './upstream-errors.js';

/** Why a non-streaming 2xx body was refused. */
export type MalformedMessageReason = 'not-a-message' | 'undecodable';

/**
 * A non-streaming 2xx whose body is not a Message: another content type, a JSON value of another
 * shape, or a body whose content encoding could not be decoded. It extends
 * {@link MalformedStreamError} so it is classified the same way: an upstream failure, transient,
 * counted by the breaker. It carries no part of the body: that may hold anything, the key included.
 *
 * @example
 * ```ts
 * if (!isMessage(data)) throw new MalformedMessageError('not-a-message', 200);
 * ```
 */
export class MalformedMessageError extends MalformedStreamError {
  constructor(
    readonly reason: MalformedMessageReason,
    /** The upstream's HTTP status (a 2xx), or `undefined` if its headers were never seen. */
    readonly status: number | undefined,
  ) {
    super(reason === 'undecodable' ? 'The upstream body could not be decoded' : 'The upstream body is not a Message');
  }

  /** What a client is told, in our own words (no upstream text). */
  get summary(): string {
    const answered = `The Claude API answered${this.status === undefined ? '' : ` ${this.status}`}`;
    return this.reason === 'undecodable'
      ? `${answered} with a body that could not be decoded`
      : `${answered} with something that is not a Message`;
  }
}

/**
 * Whether `value` has the shape of a Messages API `Message`: an object with `type: 'message'`,
 * `role: 'assistant'`, a `content` array of typed blocks and a `usage` object. Cheap on purpose:
 * enough that nothing else (a page, an error object, `[]`, `42`) is ever passed on as an answer,
 * and that code reading `message.content[i].type` or `message.usage` cannot throw.
 *
 * @example
 * ```ts
 * isMessage({ type: 'message', role: 'assistant', content: [], usage: {} }); // true
 * isMessage('<html>...'); // false
 * ```
 */
export function isMessage(value: unknown): value is ClaudeMessage {
  if (!isRecord(value)) return false;
  return (
    value['type'] === 'message' &&
    value['role'] === 'assistant' &&
    Array.isArray(value['content']) &&
    value['content'].every((block) => isRecord(block) && typeof block['type'] === 'string') &&
    isRecord(value['usage'])
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether `error` is fetch failing to decode a body's `content-encoding` (gzip, deflate, br, zstd
 * that is not what it says). Undici rejects the body read with `TypeError('terminated')` whose
 * cause is the zlib error (`Z_DATA_ERROR`, brotli's `ERR__ERROR_*`...). Only these codes: a reset
 * socket has the same `TypeError` with another cause, and is classified as a connection failure.
 *
 * @example
 * ```ts
 * await response.json().catch((error) => { if (isBodyDecodeFailure(error)) ... });
 * ```
 */
export function isBodyDecodeFailure(error: unknown): boolean {
  let current: unknown = error;
  // The zlib error is the cause, maybe one wrapper deeper; a short walk, never a cycle.
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && DECODE_ERROR_CODE.test(code)) return true;
    current = current.cause;
  }
  return false;
}

// zlib: Z_DATA_ERROR, Z_BUF_ERROR, Z_NEED_DICT...; brotli: ERR__ERROR_FORMAT_*; Node's own ERR_ZLIB_* / ERR_BROTLI_* / ERR_ZSTD_*.
const DECODE_ERROR_CODE = /^(?:Z_[A-Z_]+|ERR__ERROR_[A-Z0-9_]+|ERR_(?:ZLIB|BROTLI|ZSTD)_[A-Z0-9_]+)$/;

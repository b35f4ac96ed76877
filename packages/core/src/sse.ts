/**
 * One dispatched server-sent event.
 *
 * @example
 * ```ts
 * const event: SseEvent = { event: 'message_stop', data: '{"type":"message_stop"}' };
 * ```
 */
export interface SseEvent {
  /** Value of the `event:` field; `undefined` when absent or empty. */
  event: string | undefined;
  /** The `data:` lines joined with `\n`; `''` when there were none. */
  data: string;
}

/**
 * Options for {@link SseParser}.
 *
 * @example
 * ```ts
 * const parser = new SseParser({ maxEventBytes: 64 * 1024 });
 * ```
 */
export interface SseParserOptions {
  /** Largest single event, in raw bytes including field names and line ends. Default 1 MiB. */
  maxEventBytes?: number;
}

/**
 * Thrown by {@link SseParser} when one event exceeds `maxEventBytes`; the parser stays failed afterwards.
 *
 * @example
 * ```ts
 * try {
 *   parser.push(chunk);
 * } catch (error) {
 *   if (error instanceof SseParseError) upstream.cancel();
 * }
 * ```
 */
export class SseParseError extends Error {
  override readonly name = 'SseParseError';
}

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;
const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;
// A partial-line buffer that grew past this is dropped after use, so one big event does not pin memory forever.
const KEEP_BUFFER_BYTES = 64 * 1024;
// ignoreBOM: a U+FEFF inside a line is content; only the one at the very start of the stream is stripped.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * Incremental `text/event-stream` parser for bytes arriving in arbitrary chunks.
 *
 * Follows the WHATWG rules: lines end in `\n`, `\r\n` or `\r` (also when the pair is split across chunks); lines
 * starting with `:` are comments; one space after the field's colon is stripped; `data` lines are joined with
 * `\n`; a blank line dispatches; `id`, `retry` and unknown fields are ignored; a leading UTF-8 BOM is skipped.
 * Lines are split on bytes before decoding, so a multibyte character split across chunks decodes intact, and
 * invalid UTF-8 becomes U+FFFD. As in the Anthropic SDK, an event is dispatched when it has a non-empty `event`
 * name or at least one `data` line; otherwise the blank line only resets the state.
 *
 * @example
 * ```ts
 * const parser = new SseParser();
 * for await (const chunk of response.body!) {
 *   for (const { event, data } of parser.push(chunk)) console.log(event, data);
 * }
 * parser.end();
 * ```
 */
export class SseParser {
  readonly #maxEventBytes: number;
  // Bytes of an unterminated line carried over from earlier chunks; null when none is held.
  #line: Uint8Array | null = null;
  #lineLength = 0;
  #eventBytes = 0;
  #eventName: string | undefined = undefined;
  #data: string | undefined = undefined;
  #skipLf = false;
  #atStart = true;
  #failed = false;

  /**
   * @param options - Optional limits; `maxEventBytes` must be a positive integer.
   * @throws TypeError when `maxEventBytes` is invalid.
   */
  constructor(options: SseParserOptions = {}) {
    const max = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    if (!Number.isSafeInteger(max) || max <= 0) {
      throw new TypeError(`SseParser: options.maxEventBytes must be a positive integer, got ${String(max)}`);
    }
    this.#maxEventBytes = max;
  }

  /**
   * Raw bytes of the event still being received (complete lines plus any partial line). This is what
   * `maxEventBytes` bounds; it drops to 0 at each blank line.
   */
  get bufferedBytes(): number {
    return this.#eventBytes;
  }

  /**
   * Feeds the next chunk and returns the events it completed, in order.
   *
   * @param chunk - Bytes as received; any boundary is fine.
   * @returns Events completed by this chunk, possibly none.
   * @throws SseParseError when the pending event grows past `maxEventBytes`, or on any call after that.
   */
  push(chunk: Uint8Array): SseEvent[] {
    return this.pushUpTo(chunk, Infinity).events;
  }

  /**
   * Like {@link SseParser.push}, but stops right after the `maxEvents`-th event it completes, so a
   * caller can parse a large chunk a few events at a time (the rest is neither parsed nor copied).
   * Feed `chunk.subarray(consumed)` later to go on where it stopped.
   *
   * @param chunk - Bytes as received; any boundary is fine.
   * @param maxEvents - Most events to complete in this call; a positive integer or `Infinity`.
   * @returns The events completed, and how many bytes of `chunk` were consumed (all of them unless
   *   it stopped at `maxEvents`).
   * @throws SseParseError when the pending event grows past `maxEventBytes`, or on any call after that.
   * @throws TypeError when `maxEvents` is not at least 1.
   *
   * @example
   * ```ts
   * let rest = chunk;
   * while (rest.length > 0) {
   *   const { events, consumed } = parser.pushUpTo(rest, 1);
   *   for (const event of events) handle(event);
   *   rest = rest.subarray(consumed);
   * }
   * ```
   */
  pushUpTo(chunk: Uint8Array, maxEvents: number): { events: SseEvent[]; consumed: number } {
    // Not `> 0`: NaN must fail too.
    if (!(maxEvents >= 1)) throw new TypeError(`SseParser: maxEvents must be at least 1, got ${String(maxEvents)}`);
    if (this.#failed) throw new SseParseError('SseParser: the stream already exceeded maxEventBytes');
    const events: SseEvent[] = [];
    const n = chunk.length;
    let start = 0;
    if (this.#skipLf && n > 0) {
      // The previous chunk ended in CR; a leading LF completes that CRLF rather than ending an empty line.
      if (chunk[0] === LF) start = 1;
      this.#skipLf = false;
    }
    for (let i = start; i < n; i++) {
      const byte = chunk[i];
      if (byte !== LF && byte !== CR) continue;
      this.#addEventBytes(i - start + 1);
      if (this.#lineLength === 0) {
        this.#takeLine(chunk, start, i, events);
      } else {
        this.#append(chunk, start, i);
        const line = this.#line!;
        const length = this.#lineLength;
        this.#lineLength = 0;
        if (line.length > KEEP_BUFFER_BYTES) this.#line = null;
        this.#takeLine(line, 0, length, events);
      }
      if (byte === CR) {
        if (i + 1 === n) this.#skipLf = true;
        else if (chunk[i + 1] === LF) i++;
      }
      start = i + 1;
      if (events.length >= maxEvents) return { events, consumed: start };
    }
    if (start < n) {
      this.#addEventBytes(n - start);
      this.#append(chunk, start, n);
    }
    return { events, consumed: n };
  }

  /**
   * Signals the end of the stream and resets the parser for reuse.
   *
   * An event counts as complete only once its blank line arrived, and complete events are always returned by
   * {@link SseParser.push}; so, as in browsers and the Anthropic SDK, an event cut off before its blank line is
   * discarded and this returns an empty array. It returns an array to keep the call sites uniform with `push`.
   *
   * @returns Always `[]`: no event is completed by the end of the stream alone.
   */
  end(): SseEvent[] {
    this.#line = null;
    this.#lineLength = 0;
    this.#eventBytes = 0;
    this.#eventName = undefined;
    this.#data = undefined;
    this.#skipLf = false;
    this.#atStart = true;
    this.#failed = false;
    return [];
  }

  #addEventBytes(count: number): void {
    this.#eventBytes += count;
    if (this.#eventBytes > this.#maxEventBytes) {
      this.#failed = true;
      throw new SseParseError(`SseParser: an event exceeded maxEventBytes (${this.#maxEventBytes} bytes)`);
    }
  }

  #append(chunk: Uint8Array, from: number, to: number): void {
    const needed = this.#lineLength + (to - from);
    let line = this.#line;
    if (line === null || line.length < needed) {
      const grown = new Uint8Array(Math.max(needed, line === null ? 256 : line.length * 2));
      if (line !== null) grown.set(line.subarray(0, this.#lineLength));
      this.#line = line = grown;
    }
    line.set(chunk.subarray(from, to), this.#lineLength);
    this.#lineLength = needed;
  }

  #takeLine(bytes: Uint8Array, from: number, to: number, events: SseEvent[]): void {
    if (this.#atStart) {
      this.#atStart = false;
      if (to - from >= 3 && bytes[from] === 0xef && bytes[from + 1] === 0xbb && bytes[from + 2] === 0xbf) from += 3;
    }
    if (from === to) {
      this.#dispatch(events);
      return;
    }
    if (bytes[from] === COLON) return; // comment
    let colon = from;
    while (colon < to && bytes[colon] !== COLON) colon++;
    // Compare field names on bytes so comments and ignored fields are never decoded.
    const nameLength = colon - from;
    let valueStart = colon < to ? colon + 1 : to;
    if (valueStart < to && bytes[valueStart] === SPACE) valueStart++;
    if (
      nameLength === 4 &&
      bytes[from] === 0x64 && // d
      bytes[from + 1] === 0x61 && // a
      bytes[from + 2] === 0x74 && // t
      bytes[from + 3] === 0x61 // a
    ) {
      const value = valueStart === to ? '' : decoder.decode(bytes.subarray(valueStart, to));
      this.#data = this.#data === undefined ? value : `${this.#data}\n${value}`;
    } else if (
      nameLength === 5 &&
      bytes[from] === 0x65 && // e
      bytes[from + 1] === 0x76 && // v
      bytes[from + 2] === 0x65 && // e
      bytes[from + 3] === 0x6e && // n
      bytes[from + 4] === 0x74 // t
    ) {
      this.#eventName = valueStart === to ? undefined : decoder.decode(bytes.subarray(valueStart, to));
    }
  }

  #dispatch(events: SseEvent[]): void {
    if (this.#eventName !== undefined || this.#data !== undefined) {
      events.push({ event: this.#eventName, data: this.#data ?? '' });
    }
    this.#eventName = undefined;
    this.#data = undefined;
    this.#eventBytes = 0;
  }
}

// Any of the three line terminators; used only when a value actually contains one.
const LINE_BREAK = /\r\n|\r|\n/g;

/**
 * Encodes one event as `event: NAME\ndata: ...\n\n`.
 *
 * Every line break in `data` (`\r\n`, `\r` or `\n`) starts a new `data:` line, so a value taken from upstream
 * cannot end the event early or inject fields; the parser joins the lines back with `\n`.
 *
 * @param event - Event name; must not contain CR or LF.
 * @param data - Payload; any string.
 * @returns UTF-8 bytes ready to write to the response.
 * @throws TypeError when `event` contains CR or LF.
 *
 * @example
 * ```ts
 * encodeSseEvent('error', 'a\nevent: x'); // bytes of "event: error\ndata: a\ndata: event: x\n\n"
 * ```
 */
export function encodeSseEvent(event: string, data: string): Uint8Array {
  if (event.includes('\n') || event.includes('\r')) {
    throw new TypeError('encodeSseEvent: event name must not contain CR or LF');
  }
  const body = data.includes('\n') || data.includes('\r') ? data.replace(LINE_BREAK, '\ndata: ') : data;
  return encoder.encode(`event: ${event}\ndata: ${body}\n\n`);
}

/**
 * Encodes `value` as JSON in one event; `JSON.stringify` escapes line breaks, so the data is one line.
 *
 * @param event - Event name; must not contain CR or LF.
 * @param value - Any JSON-serializable value.
 * @returns UTF-8 bytes ready to write to the response.
 * @throws TypeError when `event` contains CR or LF, or `value` has no JSON form (`undefined`, a function, a
 *   BigInt, a cycle).
 *
 * @example
 * ```ts
 * encodeSseJson('message_stop', { type: 'message_stop' });
 * // bytes of 'event: message_stop\ndata: {"type":"message_stop"}\n\n'
 * ```
 */
export function encodeSseJson(event: string, value: unknown): Uint8Array {
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new TypeError('encodeSseJson: value has no JSON representation');
  return encodeSseEvent(event, json);
}

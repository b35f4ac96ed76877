import { SseParseError, SseParser, type SseEvent } from './sse.js';
import { oversizedEventError } from './upstream-errors.js';

/**
 * How far an {@link UpstreamEventQueue} parses ahead of its consumer.
 *
 * @example
 * ```ts
 * const limits: EventQueueLimits = { maxEvents: 256, maxChars: 64 * 1024 };
 * ```
 */
export interface EventQueueLimits {
  /** Most events held parsed but not yet taken. */
  maxEvents: number;
  /**
   * Most characters of event names and data held parsed but not yet taken. One event may pass it
   * alone (up to the parser's `maxEventBytes`): parsing stops after the event that reached it.
   */
  maxChars: number;
}

/**
 * The bounds the stream engine uses: a chunk that carries thousands of events is parsed 256 (or
 * 64 Ki characters) at a time, the next ones only once the client has taken those.
 *
 * @example
 * ```ts
 * new UpstreamEventQueue(1024 * 1024, EVENT_QUEUE_LIMITS);
 * ```
 */
export const EVENT_QUEUE_LIMITS: Readonly<EventQueueLimits> = { maxEvents: 256, maxChars: 64 * 1024 };

/**
 * The events of one upstream stream, parsed on demand and bounded: what an upstream can make the
 * guard hold is one chunk as read from the network plus at most `limits` of parsed events. Reading
 * is pull-based, so past the bound nothing more is read: the caller reads the next chunk only when
 * {@link UpstreamEventQueue.needsBytes} says so. Events with no name (the SDK skips them) are never
 * kept, and nothing after `message_stop` is parsed: the stream is complete there.
 *
 * @example
 * ```ts
 * const queue = new UpstreamEventQueue(config.stream.maxEventBytes);
 * for (;;) {
 *   const event = queue.next();
 *   if (event) forward(event);
 *   else if (queue.complete) break;
 *   else queue.add((await reader.read()).value!);
 * }
 * ```
 */
export class UpstreamEventQueue {
  readonly #parser: SseParser;
  readonly #maxEventBytes: number;
  readonly #limits: Readonly<EventQueueLimits>;
  readonly #events: SseEvent[] = [];
  #chars = 0;
  /** The unparsed rest of the last chunk read. */
  #bytes: Uint8Array | undefined;
  #complete = false;

  /**
   * @param maxEventBytes - Largest single event accepted (the parser's limit).
   * @param limits - How far to parse ahead; {@link EVENT_QUEUE_LIMITS} by default.
   */
  constructor(maxEventBytes: number, limits: Readonly<EventQueueLimits> = EVENT_QUEUE_LIMITS) {
    this.#parser = new SseParser({ maxEventBytes });
    this.#maxEventBytes = maxEventBytes;
    this.#limits = limits;
  }

  /** Events parsed and not yet taken. */
  get size(): number {
    return this.#events.length;
  }

  /** `message_stop` was parsed: nothing after it ever is. */
  get complete(): boolean {
    return this.#complete;
  }

  /** Everything read so far is parsed and taken: the caller should read the next chunk. */
  get needsBytes(): boolean {
    return this.#events.length === 0 && this.#bytes === undefined && !this.#complete;
  }

  /**
   * Takes the next chunk read from upstream. Only when {@link UpstreamEventQueue.needsBytes}: the
   * queue never holds more than one chunk.
   *
   * @throws Error when bytes of the previous chunk are still unparsed (a caller's bug).
   */
  add(chunk: Uint8Array): void {
    if (this.#bytes !== undefined) throw new Error('UpstreamEventQueue: the previous chunk is not parsed yet');
    if (this.#complete || chunk.length === 0) return;
    this.#bytes = chunk;
  }

  /**
   * Parses held bytes, one event at a time, until the bound is reached, the bytes run out or
   * `message_stop` was parsed.
   *
   * @throws MalformedStreamError (from `oversizedEventError`) when an event is larger than `maxEventBytes`.
   */
  fill(): void {
    while (this.#bytes !== undefined && !this.#full()) {
      let parsed: { events: SseEvent[]; consumed: number };
      try {
        parsed = this.#parser.pushUpTo(this.#bytes, 1);
      } catch (error) {
        // The upstream's fault, told as such: never our own "internal error".
        throw error instanceof SseParseError ? oversizedEventError(this.#maxEventBytes) : error;
      }
      this.#bytes = parsed.consumed < this.#bytes.length ? this.#bytes.subarray(parsed.consumed) : undefined;
      for (const event of parsed.events) this.#keep(event);
    }
  }

  /** The next event without taking it; parses more held bytes when none is parsed. */
  peek(): SseEvent | undefined {
    if (this.#events.length === 0) this.fill();
    return this.#events[0];
  }

  /** Takes the next event; parses more held bytes when none is parsed. `undefined`: read more (or complete). */
  next(): SseEvent | undefined {
    if (this.#events.length === 0) this.fill();
    const event = this.#events.shift();
    if (event) this.#chars -= charsOf(event);
    return event;
  }

  /** The first parsed event that matches, without parsing more. */
  find(predicate: (event: SseEvent) => boolean): SseEvent | undefined {
    return this.#events.find(predicate);
  }

  #full(): boolean {
    return this.#events.length >= this.#limits.maxEvents || this.#chars >= this.#limits.maxChars;
  }

  #keep(event: SseEvent): void {
    if (event.event === undefined) return;
    this.#events.push(event);
    this.#chars += charsOf(event);
    if (event.event === 'message_stop') {
      // A complete stream: whatever follows (an `event: error` in the same chunk...) is ignored.
      this.#complete = true;
      this.#bytes = undefined;
    }
  }
}

function charsOf(event: SseEvent): number {
  return event.data.length + (event.event?.length ?? 0);
}

/** One server-sent event as a client sees it. */
export interface SseMessage {
  event: string | undefined;
  data: string;
}

/**
 * A minimal incremental SSE reader over a fetch body: `next()` returns events in order, one at a
 * time, reading more bytes only when needed (so not calling it leaves the body unread).
 *
 * @example
 * ```ts
 * const reader = new SseReader(response.body);
 * await reader.until((message) => message.event === 'content_block_delta');
 * await reader.cancel();
 * ```
 */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = '';
  #ended = false;

  constructor(body: ReadableStream<Uint8Array> | null) {
    if (!body) throw new Error('the response has no body');
    this.#reader = body.getReader();
  }

  /** The next event, or `undefined` at the end of the body. */
  async next(): Promise<SseMessage | undefined> {
    for (;;) {
      const cut = this.#buffer.indexOf('\n\n');
      if (cut >= 0) {
        const block = this.#buffer.slice(0, cut);
        this.#buffer = this.#buffer.slice(cut + 2);
        const message = parseBlock(block);
        if (message) return message;
        continue;
      }
      if (this.#ended) return undefined;
      const { done, value } = await this.#reader.read();
      if (done) {
        this.#ended = true;
        this.#buffer += this.#decoder.decode();
      } else {
        this.#buffer += this.#decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      }
    }
  }

  /** Reads events until `predicate` matches one (returned last), or the end. */
  async until(predicate: (message: SseMessage) => boolean): Promise<SseMessage[]> {
    const out: SseMessage[] = [];
    for (;;) {
      const message = await this.next();
      if (!message) return out;
      out.push(message);
      if (predicate(message)) return out;
    }
  }

  /** Every remaining event. */
  async rest(): Promise<SseMessage[]> {
    return this.until(() => false);
  }

  /** Stops reading: cancels the body. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => undefined);
  }
}

function parseBlock(block: string): SseMessage | undefined {
  let event: string | undefined;
  let data: string | undefined;
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value === '' ? undefined : value;
    else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
  }
  if (event === undefined && data === undefined) return undefined;
  return { event, data: data ?? '' };
}

/**
 * Every event of a fetch response's SSE body, in order.
 *
 * @example
 * ```ts
 * const events = await readSse(await h.post('/v1/messages', { ...params(), stream: true }));
 * ```
 */
export async function readSse(response: Response): Promise<SseMessage[]> {
  return new SseReader(response.body).rest();
}

/**
 * The event names, in order.
 *
 * @example
 * ```ts
 * expect(names(events).at(-1)).toBe('message_stop');
 * ```
 */
export function names(messages: readonly SseMessage[]): (string | undefined)[] {
  return messages.map((message) => message.event);
}

/**
 * The parsed JSON of an event's data.
 *
 * @example
 * ```ts
 * expect(json(events.at(-1))).toMatchObject({ type: 'error' });
 * ```
 */
export function json<T = Record<string, unknown>>(message: SseMessage | undefined): T {
  if (!message) throw new Error('no event');
  return JSON.parse(message.data) as T;
}

/**
 * The text of the `content_block_delta` events of an `anthropic`-format stream.
 *
 * @example
 * ```ts
 * expect(deltaText(events)).toBe(await h.directText());
 * ```
 */
export function deltaText(messages: readonly SseMessage[]): string {
  return messages
    .filter((message) => message.event === 'content_block_delta')
    .map((message) => json<{ delta: { text: string } }>(message).delta.text)
    .join('');
}

/**
 * The text of the `text` events (each a JSON string) of a `text`-format stream.
 *
 * @example
 * ```ts
 * expect(textEventsText(await readSse(await h.post('/chat', { message, stream: true })))).toBe(expected);
 * ```
 */
export function textEventsText(messages: readonly SseMessage[]): string {
  return messages
    .filter((message) => message.event === 'text')
    .map((message) => JSON.parse(message.data) as string)
    .join('');
}

/**
 * Whether the events are the `anthropic`-format sequence of a complete stream (pings aside).
 *
 * @example
 * ```ts
 * expect(isCompleteAnthropicStream(await readSse(response))).toBe(true);
 * ```
 */
export function isCompleteAnthropicStream(messages: readonly SseMessage[]): boolean {
  const list = names(messages).filter((name) => name !== 'ping');
  return (
    list[0] === 'message_start' &&
    list[1] === 'content_block_start' &&
    list.at(-3) === 'content_block_stop' &&
    list.at(-2) === 'message_delta' &&
    list.at(-1) === 'message_stop' &&
    !list.includes('error')
  );
}

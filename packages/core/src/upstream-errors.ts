/** An attempt ran longer than the route's own per-attempt timeout. */
export class AttemptTimeoutError extends Error {
  override readonly name = 'AttemptTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`The attempt timed out after ${timeoutMs} ms`);
  }
}

/** The upstream stream sent nothing for too long (before the first event, or between events). */
export class StreamStallError extends Error {
  override readonly name = 'StreamStallError';
  constructor(
    readonly phase: 'first-event' | 'idle',
    readonly timeoutMs: number,
  ) {
    super(
      phase === 'first-event'
        ? `The upstream sent no event within ${timeoutMs} ms`
        : `The upstream stream stalled for ${timeoutMs} ms`,
    );
  }
}

/** The upstream sent `event: error` inside a 200 stream. */
export class UpstreamStreamError extends Error {
  override readonly name = 'UpstreamStreamError';
  constructor(
    readonly type: string,
    readonly upstreamMessage: string,
    /** `error.details.error_code` as the upstream sent it (unchecked), when it sent a string. */
    readonly errorCode?: string,
  ) {
    super(`The upstream stream failed with ${type}`);
  }
}

/**
 * The upstream stream could not be parsed, or ended without `message_stop`: an upstream fault,
 * retried before a stream commits.
 *
 * @example
 * ```ts
 * throw new MalformedStreamError('The upstream stream ended before its first event');
 * ```
 */
export class MalformedStreamError extends Error {
  override readonly name = 'MalformedStreamError';
  constructor(
    message: string,
    /**
     * What the upstream sent, as a noun phrase in our own words only (never upstream text), for
     * "The Claude API sent ..."; `undefined`: a generic wording.
     */
    readonly problem?: string,
  ) {
    super(message);
  }
}

/**
 * One upstream event was larger than `stream.maxEventBytes` (the SSE parser's limit).
 *
 * @param maxEventBytes - The limit that was crossed.
 * @returns The error, classified like any malformed stream (transient, a breaker failure).
 *
 * @example
 * ```ts
 * throw oversizedEventError(1024 * 1024); // problem: 'an event larger than 1048576 bytes'
 * ```
 */
export function oversizedEventError(maxEventBytes: number): MalformedStreamError {
  return new MalformedStreamError(
    `The upstream sent an event larger than ${maxEventBytes} bytes`,
    `an event larger than ${maxEventBytes} bytes`,
  );
}

/**
 * One upstream event's data was not the JSON object the Messages API sends (unparseable, `null`,
 * an array...). The event's name and data stay out of the message: they may hold anything.
 *
 * @returns The error, classified like any malformed stream.
 *
 * @example
 * ```ts
 * if (parseObject(event.data) === undefined) throw malformedEventError();
 * ```
 */
export function malformedEventError(): MalformedStreamError {
  return new MalformedStreamError('The upstream sent a malformed event', 'a malformed event');
}

/**
 * The stream body could not be decoded per its `content-encoding` (gzip that is not gzip...).
 *
 * @returns The error, classified like any malformed stream.
 *
 * @example
 * ```ts
 * reader.read().catch((error) => { throw isBodyDecodeFailure(error) ? undecodableStreamError() : error; });
 * ```
 */
export function undecodableStreamError(): MalformedStreamError {
  return new MalformedStreamError(
    'The upstream stream body could not be decoded',
    'a stream body that could not be decoded (content-encoding)',
  );
}

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
  ) {
    super(`The upstream stream failed with ${type}`);
  }
}

/** The upstream stream could not be parsed, or ended without `message_stop`. */
export class MalformedStreamError extends Error {
  override readonly name = 'MalformedStreamError';
}

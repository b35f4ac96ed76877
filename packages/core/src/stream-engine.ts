import type { UpstreamAnswers } from './admission.js';
import type { ClaudeClient, MessageStreamParams } from './claude-client.js';
import type { FallbackChain } from './fallback-targets.js';
import { HedgeLostError, type HedgeCall, type HedgeLeg, type Hedger } from './hedge.js';
import { FALLBACK_HEADER } from './hedge-legs.js';
import { classifyFailure } from './classify.js';
import { raceWithTimeout, type Clock, type Timed } from './clock.js';
import { ClientAbortedError, type Deadline } from './deadline.js';
import { describeError } from './describe-error.js';
import { anthropicErrorBody } from './error-body.js';
import { wordFailure } from './failure-wording.js';
import { ClaudeGuardError, isClaudeGuardError } from './guard-error.js';
import type { LogWriter } from './logger.js';
import { isBodyDecodeFailure } from './message-body.js';
import type { StreamOptions } from './options.js';
import type { RateLimitTicket } from './rate-limit-tracker.js';
import type { RequestRecord } from './request-record.js';
import { forwardUpstreamHeaders } from './response.js';
import { SDK_CALL, type AttemptContext, type RetryCall, type RetryPolicy, type StartedAttempt } from './retry-loop.js';
import { attemptOptions } from './signal-lane.js';
import { encodeSseEvent, encodeSseJson, type SseEvent } from './sse.js';
import { MessageAssembler, type StreamFinal } from './stream-final.js';
import { upstreamRequestId } from './upstream-headers.js';
import {
  malformedEventError,
  MalformedStreamError,
  StreamStallError,
  undecodableStreamError,
  UpstreamStreamError,
} from './upstream-errors.js';
import { UpstreamEventQueue } from './upstream-event-queue.js';

/**
 * `anthropic`: Claude's own events, re-emitted unchanged, readable by the official SDK.
 * `text`: `event: text` with a JSON string per delta, then `event: done` with usage: for browsers.
 *
 * @example
 * ```ts
 * await req.claude.stream(res, params, { format: 'text' });
 * ```
 */
export type StreamFormat = 'anthropic' | 'text';

/**
 * What a stream answers with before it commits, from the request it belongs to: the headers every
 * response of the request carries, and the error response when every attempt failed first.
 */
export interface StreamAnswers {
  responseHeaders(): Headers;
  errorResponse(error: unknown): Response;
  /** The error as the client is told it (for `onFinal`). */
  toGuardError(error: unknown): ClaudeGuardError;
}

/**
 * Everything one stream works with, given explicitly: no route, guard or call is reached into.
 *
 * @example
 * ```ts
 * const response = await startStream({ client, params, format: 'text', limits, clock, deadline, record,
 *   policy, secrets: [], answers: call });
 * ```
 */
export interface StreamInput {
  readonly client: ClaudeClient;
  readonly params: MessageStreamParams;
  readonly format: StreamFormat;
  /** The route's stream limits: first-event and idle timeouts, heartbeat, largest event. */
  readonly limits: Readonly<Required<Omit<StreamOptions, 'hedge'>>>;
  readonly clock: Clock;
  readonly deadline: Deadline;
  /** The request's record: the stream reports its upstream id, usage, commit and outcome into it. */
  readonly record: RequestRecord;
  /**
   * Runs the attempts (the route's retry policy, its breaker included). Each attempt's `ready` is
   * its commit, which is the breaker's verdict; a failure after it is reported through `done`.
   */
  readonly policy: Pick<RetryPolicy, 'execute'>;
  /** Kept out of forwarded headers and upstream ids. */
  readonly secrets: readonly string[];
  readonly answers: StreamAnswers;
  /**
   * Where the rate-limit tracker hears each attempt of the route's own client: its answer's headers or
   * its failure, then the stream's usage at `message_stop`. `undefined`: nowhere (rate limits off).
   */
  readonly rateLimits?: UpstreamAnswers | undefined;
  /** Serves the stream when the route's own attempts fail before the commit; `undefined`: no fallback. */
  readonly fallbacks?: FallbackChain | undefined;
  /** Hedges a late first event (`stream.hedge`); `undefined`: no hedging. */
  readonly hedger?: Hedger | undefined;
  /** Told how the stream ended, once (see {@link StreamFinal}); the Message is assembled only for it. */
  readonly onFinal?: ((final: StreamFinal) => unknown) | undefined;
  /**
   * The admission slot's release: called when the upstream exchange is over and again when the stream is
   * (it must be idempotent; a slot's release is).
   */
  readonly onClosed?: (() => void) | undefined;
  /** Where an `onFinal` that throws or rejects is reported (error level); `undefined`: nowhere. */
  readonly log?: LogWriter | undefined;
}

const PING = new TextEncoder().encode('event: ping\ndata: {"type": "ping"}\n\n');
const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** One upstream attempt that reached its first data event. */
interface UpstreamHandle {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  /** Events parsed but not yet forwarded, and the unparsed rest of the last chunk: bounded. */
  queue: UpstreamEventQueue;
  response: Response;
  abort: AbortController;
  /** The attempt's number (0 for the first). */
  attempt: number;
  /**
   * Settles when the upstream exchange is over (the attempt's `done`): at `message_stop`, at a
   * failure, or as soon as the attempt's signal aborts, whether or not anyone reads the body.
   * The breaker's verdict does not wait for it: it was given at the commit.
   */
  finished: Deferred<void>;
  detach: () => void;
  /** The rate-limit ticket the stream's usage reconciles at `message_stop`; `undefined`: not tracked (a fallback's). */
  ticket: RateLimitTicket | undefined;
}

const noop = (): void => {};

/**
 * Starts a guarded stream. Resolves with a committed 200 SSE `Response` (first data event, or first
 * heartbeat), or with the request's error `Response` when every attempt failed first. The record
 * holds the request open (its log line waits) until the stream is over.
 *
 * @param input - The stream's collaborators and parameters.
 * @returns The response to send.
 *
 * @example
 * ```ts
 * return startStream({ client, params, format: 'anthropic', limits, clock, deadline, record, policy, secrets, answers: call });
 * ```
 */
export function startStream(input: StreamInput): Promise<Response> {
  return new StreamSession(input).start();
}

class StreamSession implements RetryCall {
  readonly #input: StreamInput;
  readonly deadline: Deadline;
  readonly record: RequestRecord;
  readonly #clock: Clock;
  readonly #heartbeatMs: number;
  readonly #idleTimeoutMs: number;
  #handle: UpstreamHandle | undefined;
  #retrying!: Promise<UpstreamHandle>;
  #pendingRead: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  /** The attempt in flight (or the last one made). */
  #attempt = 0;
  #idleWaitedMs = 0;
  #closing = false;
  #done = false;
  // The `done` event's usage, this stream's own (as the upstream sent it).
  #inputTokens: number | undefined;
  #outputTokens: number | undefined;
  #stopReason: string | null = null;
  /** The Message so far: only for `onFinal`. */
  readonly #assembler: MessageAssembler | undefined;
  /** How the stream ended, for `onFinal`: the first of complete, failed, aborted wins. */
  #endedAs: StreamFinal['type'] | undefined;
  #error: ClaudeGuardError | undefined;
  /** Anything was sent (a first event or a heartbeat): no fallback after that. */
  #committed = false;
  /** The fallback model serving this stream, once one does. */
  #fallbackModel: string | undefined;
  #hedgeCall: HedgeCall | undefined;

  constructor(input: StreamInput) {
    this.#input = input;
    this.#assembler = input.onFinal ? new MessageAssembler() : undefined;
    this.deadline = input.deadline;
    this.record = input.record;
    this.#clock = input.clock;
    this.#heartbeatMs = input.limits.heartbeatMs;
    this.#idleTimeoutMs = input.limits.idleTimeoutMs;
  }

  async start(): Promise<Response> {
    this.record.called(this.#input.params.model, true, this.#input.params.max_tokens);
    this.record.streamOpened();
    // The engine's attempts abort their upstream request when the signal aborts.
    const own = this.#input.policy.execute((context) => this.#startAttempt(context), this, SDK_CALL);
    this.#retrying = this.#input.fallbacks ? own.catch((error: unknown) => this.#fallBack(error)) : own;
    this.#retrying.catch(noop);
    const onClosed = this.#input.onClosed;
    // The admission slot stands for the upstream exchange: given back when that is over (message_stop read,
    // failed, or aborted at the deadline or a disconnect), not only once a slow or stalled reader is done.
    if (onClosed) void this.#retrying.then((handle) => handle.finished.promise).then(onClosed, onClosed);
    let first: Timed<UpstreamHandle>;
    try {
      first = await raceWithTimeout(this.#clock, this.#retrying, this.#heartbeatMs);
    } catch (error) {
      // Nothing was sent yet: the client gets a real HTTP status.
      const response = this.#input.answers.errorResponse(error);
      if (this.#input.onFinal) this.#ended('error', this.#input.answers.toGuardError(error));
      this.#finish();
      return response;
    }
    this.#committed = true;
    if (!first.timedOut) {
      // The answering attempt's id (a hedge's loser may have answered headers too).
      this.record.answeredWith(upstreamRequestId(first.value.response.headers.get('request-id'), this.#input.secrets));
    }
    const headers = this.#input.answers.responseHeaders();
    for (const [name, value] of Object.entries(SSE_HEADERS)) headers.set(name, value);
    if (this.#fallbackModel !== undefined) headers.set(FALLBACK_HEADER, this.#fallbackModel);
    if (!first.timedOut) {
      this.#handle = first.value;
      forwardUpstreamHeaders(first.value.response.headers, headers, this.#input.secrets);
      this.record.committed('first-event', first.value.attempt);
    } else {
      this.record.committed('heartbeat', this.#attempt);
    }
    let commitPingPending = first.timedOut;
    const body = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          if (commitPingPending) {
            // The heartbeat that committed the response is its first bytes.
            commitPingPending = false;
            controller.enqueue(PING);
            return;
          }
          const chunk = await this.#produce();
          if (chunk) controller.enqueue(chunk);
          else controller.close();
        },
        cancel: () => this.#cancel(),
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { status: 200, headers });
  }

  /**
   * One upstream attempt: ready at its first data event (the commit), done when its stream is over.
   * The route's own (hedged, told to the rate-limit tracker), or a fallback target's (`target`: neither).
   */
  #startAttempt(
    context: AttemptContext,
    target?: { client: ClaudeClient; model: string },
  ): StartedAttempt<UpstreamHandle> {
    this.#attempt = context.attempt;
    const { client, params, hedger, rateLimits } = this.#input;
    let ready: Promise<UpstreamHandle>;
    if (target) ready = this.#connect(context, target.client, { ...params, model: target.model }, undefined);
    else if (hedger) {
      ready = hedger.run(
        (leg) => this.#leg(leg, client, params, rateLimits),
        context,
        (this.#hedgeCall ??= { record: this.record, state: { hedges: 0 } }),
      );
    } else ready = this.#connect(context, client, params, rateLimits);
    const done = ready.then((handle) => handle.finished.promise);
    return { ready, done };
  }

  /** One leg of a hedged attempt: it answers at its first data event. */
  #leg(
    context: AttemptContext,
    client: ClaudeClient,
    params: MessageStreamParams,
    rateLimits: UpstreamAnswers | undefined,
  ): HedgeLeg<UpstreamHandle> {
    const answer = this.#connect(context, client, params, rateLimits);
    return {
      first: answer,
      answer,
      done: answer.then((handle) => handle.finished.promise),
      discard: (handle) => discardHandle(handle),
    };
  }

  /**
   * The route's own attempts failed before anything was sent: the route's fallback targets, in
   * order, each under its own breaker and attempt limit. After a heartbeat commit the failure stays
   * in-band, as without a fallback.
   */
  async #fallBack(error: unknown): Promise<UpstreamHandle> {
    const chain = this.#input.fallbacks;
    if (!chain || this.#committed) throw error;
    const served = await chain.serve(
      error,
      this,
      true,
      // Not hedged: the route's hedge times and judges the route's own upstream, not a target's.
      (target) => (context) => this.#startAttempt(context, target),
    );
    this.#fallbackModel = served.target.model;
    this.record.answeredBy(served.target.model);
    return served.value;
  }

  /** `rateLimits`: where the attempt's answer and usage are told; `undefined` for a fallback target's. */
  async #connect(
    context: AttemptContext,
    client: ClaudeClient,
    params: MessageStreamParams,
    rateLimits: UpstreamAnswers | undefined,
  ): Promise<UpstreamHandle> {
    const { limits, secrets } = this.#input;
    const ticket = rateLimits?.ticket(params);
    const abort = new AbortController();
    const onParentAbort = () => abort.abort(context.signal.reason);
    if (context.signal.aborted) throw context.signal.reason as Error;
    context.signal.addEventListener('abort', onParentAbort, { once: true });
    const detach = () => context.signal.removeEventListener('abort', onParentAbort);
    // Only when shorter than the time left: at the deadline's own instant the deadline rules, so a
    // caller's budget running out is never mistaken for a stall (and never counted against the breaker).
    const firstEventMs = limits.firstEventTimeoutMs;
    const timer =
      firstEventMs < context.deadline.remaining()
        ? this.#clock.setTimeout(() => {
            this.record.streamStalled(context.attempt, 'first-event', firstEventMs);
            abort.abort(new StreamStallError('first-event', firstEventMs));
          }, firstEventMs)
        : undefined;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    try {
      const call = client.messages.create(
        { ...params, stream: true },
        attemptOptions(client, abort.signal, context.timeout, undefined),
      );
      let response: Response;
      try {
        response = await call.asResponse();
      } catch (error) {
        rateLimits?.failed(error);
        throw error;
      }
      rateLimits?.answered(response);
      this.record.upstreamAnswered(upstreamRequestId(response.headers.get('request-id'), secrets), response.status);
      if (!response.body) throw new MalformedStreamError('The upstream stream had no body');
      reader = response.body.getReader();
      const queue = new UpstreamEventQueue(limits.maxEventBytes);
      for (;;) {
        // Before the commit pings cost nothing: dropped as they are parsed, never kept (and the
        // queue never keeps nameless events), so a ping flood holds no memory until the first-event
        // timer, a clock timer, aborts the attempt.
        while (queue.peek()?.event === 'ping') queue.next();
        const first = queue.peek();
        if (first) {
          // Everything parsed so far (the rest of this chunk, up to message_stop or the queue's bound)
          // is looked at before committing: an error or a malformed event in it is a failed attempt,
          // retried, rather than a committed stream that fails at once.
          const bad = queue.find((event) => event.event === 'error' || parseObject(event.data) === undefined);
          if (bad?.event === 'error') throw upstreamStreamError(bad.data);
          if (bad) throw malformedEventError();
          this.record.firstEvent();
          break;
        }
        const { done, value } = await readUpstream(reader);
        if (done) throw new MalformedStreamError('The upstream stream ended before its first event');
        queue.add(value);
      }
      const finished = deferred<void>();
      // The deadline (or a disconnect) settles the attempt at once, even while nobody reads the body.
      const onAbort = () => finished.reject(abort.signal.reason);
      abort.signal.addEventListener('abort', onAbort, { once: true });
      const release = () => {
        detach();
        abort.signal.removeEventListener('abort', onAbort);
      };
      return { reader, queue, response, abort, attempt: context.attempt, finished, detach: release, ticket };
    } catch (error) {
      const reason: unknown = abort.signal.aborted ? abort.signal.reason : error;
      if (!abort.signal.aborted) abort.abort(reason);
      reader?.cancel().catch(noop);
      detach();
      throw reason;
    } finally {
      if (timer !== undefined) this.#clock.clearTimeout(timer);
    }
  }

  /** The next chunk for the client, or null at the end. Only runs while the client is reading. */
  async #produce(): Promise<Uint8Array | null> {
    if (this.#closing) {
      this.#finish();
      return null;
    }
    const entered = this.#clock.now();
    try {
      if (!this.#handle) {
        // Committed by a heartbeat while attempts are still being made.
        const next = await raceWithTimeout(this.#clock, this.#retrying, this.#heartbeatMs);
        if (next.timedOut) return PING;
        this.#handle = next.value;
      }
      const handle = this.#handle;
      for (;;) {
        // Parses only what the client is ready for: past the queue's bound, nothing more is read.
        const event = handle.queue.next();
        if (event) {
          const out = this.#transform(event, handle);
          if (out) return out;
          continue;
        }
        this.#pendingRead ??= readUpstream(handle.reader);
        const waitedBefore = this.#idleWaitedMs;
        const heartbeatLeft = this.#heartbeatMs - (this.#clock.now() - entered);
        const idleLeft = this.#idleTimeoutMs - waitedBefore - (this.#clock.now() - entered);
        const limit = Math.max(0, Math.min(heartbeatLeft, idleLeft));
        const result = await raceWithTimeout(this.#clock, this.#pendingRead, limit);
        if (result.timedOut) {
          // Decide by the timer that was set, not by re-reading the clock: a timer may fire a
          // millisecond before `now()` says it is due, which would send a stray ping instead.
          if (idleLeft <= heartbeatLeft) {
            this.record.streamStalled(handle.attempt, 'idle', this.#idleTimeoutMs);
            throw new StreamStallError('idle', this.#idleTimeoutMs);
          }
          this.#idleWaitedMs = waitedBefore + (this.#clock.now() - entered);
          return PING;
        }
        this.#pendingRead = undefined;
        this.#idleWaitedMs = 0;
        if (result.value.done) throw new MalformedStreamError('The upstream stream ended without message_stop');
        handle.queue.add(result.value.value);
      }
    } catch (error) {
      return this.#fail(error);
    }
  }

  /** Turns one upstream event into client bytes (or nothing, for events this format drops). */
  #transform(event: SseEvent, handle: UpstreamHandle): Uint8Array | undefined {
    const name = event.event;
    if (name === undefined) return undefined;
    if (name === 'error') throw upstreamStreamError(event.data);
    // Every event is parsed, even those forwarded as they are: a malformed one must end the
    // stream with an `error` event, never reach the client's SDK as unparseable JSON.
    return this.#transformParsed(name, event, handle);
  }

  #transformParsed(name: string, event: SseEvent, handle: UpstreamHandle): Uint8Array | undefined {
    const data = parseObject(event.data);
    if (data === undefined) throw malformedEventError();
    this.#assembler?.add(name, data);
    const format = this.#input.format;
    if (name === 'message_start') {
      const message = data['message'] as
        { id?: unknown; model?: unknown; usage?: { input_tokens?: number; output_tokens?: number } } | undefined;
      const usage = message?.usage;
      if (message !== undefined && this.record.attemptSpan !== undefined) this.record.messageAnswered(message);
      this.#inputTokens = usage?.input_tokens;
      // The count so far; message_delta brings the final one. A client abort mid-stream logs this.
      if (typeof usage?.output_tokens === 'number') this.#outputTokens = usage.output_tokens;
      this.record.recordUsage(usage);
    } else if (name === 'message_delta') {
      const usage = data['usage'] as { output_tokens?: number } | undefined;
      if (typeof usage?.output_tokens === 'number') this.#outputTokens = usage.output_tokens;
      this.record.recordUsage(usage);
      const delta = data['delta'] as { stop_reason?: string | null } | undefined;
      this.#stopReason = delta?.stop_reason ?? this.#stopReason;
      this.record.attemptSpan?.answer({ usage, stopReason: delta?.stop_reason });
    } else if (name === 'message_stop') {
      // To the rate-limit tracker, which reconciles the estimate it took when the stream was sent.
      if (handle.ticket !== undefined) {
        const usage = { input_tokens: this.#inputTokens ?? null, output_tokens: this.#outputTokens ?? null };
        this.#input.rateLimits!.reconcile(handle.ticket, usage);
      }
      this.#closing = true;
      this.#ended('message');
      this.record.setOutcome(this.#fallbackModel === undefined ? 'ok' : 'fallback');
      handle.finished.resolve();
      this.#releaseUpstream(handle, true);
      if (format === 'text') {
        return encodeSseJson('done', {
          stop_reason: this.#stopReason,
          usage: { input_tokens: this.#inputTokens ?? null, output_tokens: this.#outputTokens ?? null },
        });
      }
    }
    if (format === 'anthropic') return encodeSseEvent(name, event.data);
    if (name === 'content_block_delta') {
      const delta = data['delta'] as { type?: string; text?: unknown } | undefined;
      if (delta?.type === 'text_delta' && typeof delta.text === 'string') return encodeSseJson('text', delta.text);
    }
    return undefined;
  }

  /** A failure after commit: one in-band `error` event, then the end. Never a silent close. */
  #fail(error: unknown): Uint8Array | null {
    const handle = this.#handle;
    const abort = handle?.abort;
    const reason: unknown = abort?.signal.aborted ? abort.signal.reason : error;
    if (reason instanceof ClientAbortedError || this.deadline.clientAborted) {
      this.#cancel();
      return null;
    }
    this.#closing = true;
    if (handle) {
      if (!abort?.signal.aborted) abort?.abort(reason);
      handle.finished.reject(reason);
      this.#releaseUpstream(handle);
    }
    let told;
    if (isClaudeGuardError(reason)) {
      // Already worded (and recorded) by the retry policy: every attempt failed after a heartbeat commit.
      told = reason;
    } else {
      const failure = classifyFailure(reason, {
        deadline: this.deadline,
        countRateLimits: false,
        now: this.#clock.now,
        secrets: this.#input.secrets,
      });
      this.record.failed(failure);
      // The retry policy tells a deadline that ran out during an attempt; after the commit, the stream does.
      if (failure.kind === 'deadline' && this.record.observed) {
        const { source, budgetMs } = this.deadline;
        const requestId = this.record.requestId;
        this.record.emit({ type: 'deadline-exceeded', route: this.record.route, requestId, source, budgetMs });
      }
      told = wordFailure(failure, { phase: 'after-commit' });
    }
    this.record.setOutcome(told.outcome);
    this.#ended('error', told);
    return encodeSseJson('error', anthropicErrorBody(told.type, told.message, this.record.requestId));
  }

  /** The client went away: abort the upstream now so it stops generating (and billing). */
  #cancel(): void {
    if (this.#done) return;
    this.#closing = true;
    const reason = new ClientAbortedError();
    const handle = this.#handle;
    if (handle) {
      if (!handle.abort.signal.aborted) handle.abort.abort(reason);
      handle.finished.reject(reason);
      this.#releaseUpstream(handle);
    }
    // Still retrying (heartbeat-committed): the deadline's signal stops the loop.
    this.deadline.abortForClient();
    this.record.clientAborted();
    this.#ended('aborted');
    this.#finish();
  }

  #releaseUpstream(handle: UpstreamHandle, completed = false): void {
    handle.detach();
    this.#pendingRead?.catch(noop);
    this.#pendingRead = undefined;
    if (completed) {
      // After message_stop the upstream is ending on its own: read its end instead of
      // resetting a healthy exchange, but never wait on it for more than a few chunks.
      void drainBriefly(handle.reader, this.#clock);
    } else {
      handle.reader.cancel().catch(noop);
    }
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#input.onClosed?.();
    this.record.streamClosed();
    if (this.#input.onFinal) this.#tellFinal(this.#input.onFinal);
  }

  /** How the stream ended, as far as `onFinal` is told: the first word wins. */
  #ended(as: StreamFinal['type'], error?: ClaudeGuardError): void {
    if (this.#endedAs !== undefined) return;
    // A client gone before anything was answered is an abort, whatever error that made.
    this.#endedAs = as === 'error' && this.deadline.clientAborted ? 'aborted' : as;
    this.#error = error;
  }

  /** Calls `onFinal` once, never letting it reach the stream: what it throws or rejects with is logged. */
  #tellFinal(onFinal: (final: StreamFinal) => unknown): void {
    const record = this.record;
    const ids = { requestId: record.requestId, upstreamRequestId: record.upstreamRequestId };
    const message = this.#assembler?.result();
    const estimatedOutputTokens = this.#assembler?.estimatedOutputTokens();
    let final: StreamFinal;
    if (this.#endedAs === 'message' && message) final = { type: 'message', message, ...ids };
    else if (this.#endedAs === 'message' || (this.#endedAs === 'error' && this.#error)) {
      const error =
        this.#error ??
        // message_stop without a message_start: nothing a client could rebuild a Message from.
        new ClaudeGuardError({
          status: 502,
          type: 'api_error',
          message: 'The Claude API sent a stream without message_start',
          outcome: 'upstream-error',
        });
      final = { type: 'error', error, failure: record.failure, message, estimatedOutputTokens, ...ids };
    } else final = { type: 'aborted', message, estimatedOutputTokens, ...ids };
    const report = (error: unknown): void => {
      this.#input.log?.write(
        'error',
        { route: record.route, requestId: record.requestId, err: describeError(error, this.#input.secrets) },
        'claude-guard onFinal failed',
      );
    };
    try {
      const result = onFinal(final);
      if (isThenable(result)) result.then(undefined, report);
    } catch (error) {
      report(error);
    }
  }
}

/** A stream that reached its first event after the other leg of its hedge had won: closed at once. */
function discardHandle(handle: UpstreamHandle): void {
  const reason = new HedgeLostError();
  if (!handle.abort.signal.aborted) handle.abort.abort(reason);
  handle.finished.promise.catch(noop);
  handle.finished.reject(reason);
  handle.detach();
  handle.reader.cancel().catch(noop);
}

async function drainBriefly(reader: ReadableStreamDefaultReader<Uint8Array>, clock: Clock): Promise<void> {
  try {
    const drained = await raceWithTimeout(clock, readToEnd(reader, 4), 1_000);
    if (drained.timedOut || !drained.value) await reader.cancel();
  } catch {
    // The upstream went away after finishing: nothing to do.
  }
}

/** Reads up to `chunks` chunks; true when the stream ended within them. */
async function readToEnd(reader: ReadableStreamDefaultReader<Uint8Array>, chunks: number): Promise<boolean> {
  for (let read = 0; read < chunks; read++) {
    if ((await reader.read()).done) return true;
  }
  return false;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

function upstreamStreamError(data: string): UpstreamStreamError {
  try {
    const parsed = JSON.parse(data) as {
      error?: { type?: unknown; message?: unknown; details?: { error_code?: unknown } | null };
    };
    const type = typeof parsed.error?.type === 'string' ? parsed.error.type : 'api_error';
    const message = typeof parsed.error?.message === 'string' ? parsed.error.message : '';
    const code = parsed.error?.details?.error_code;
    return new UpstreamStreamError(type, message, typeof code === 'string' ? code : undefined);
  } catch {
    return new UpstreamStreamError('api_error', '');
  }
}

/** The event's data as the JSON object every Messages API event is; `undefined` for anything else. */
function parseObject(data: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(data);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The next chunk; a body whose content-encoding cannot be decoded is the upstream's fault, said so. */
function readUpstream(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<ReadableStreamReadResult<Uint8Array>> {
  return reader.read().catch((error: unknown) => {
    throw isBodyDecodeFailure(error) ? undecodableStreamError() : error;
  });
}

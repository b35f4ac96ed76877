import type { AnthropicErrorType } from './anthropic-error-types.js';
import type { DeadlineSource } from './deadline.js';
import type { RequestLogRecord } from './logger.js';

/**
 * Everything the guard reports, as a discriminated union on `type`.
 *
 * @example
 * ```ts
 * guard.on((event) => { if (event.type === 'retry') console.log(event.route, event.attempt, event.delayMs); });
 * ```
 */
export type GuardEvent =
  | { type: 'attempt'; route: string; requestId: string; attempt: number; timeoutMs: number }
  | {
      type: 'attempt-failed';
      route: string;
      requestId: string;
      attempt: number;
      kind: string;
      status: number | undefined;
      transient: boolean;
      /** The upstream's own message for this attempt's failure, redacted; `undefined` when it sent none. */
      upstreamMessage: string | undefined;
      /** The upstream error's `error.details.error_code`, when it had one. */
      errorCode: string | undefined;
      /** The failure as an Anthropic error type (`overloaded_error`, `api_error`, `timeout_error`, ...). */
      errorType: AnthropicErrorType;
    }
  | {
      type: 'retry';
      route: string;
      requestId: string;
      /** The attempt about to be made after the wait (1 for the first retry). */
      attempt: number;
      delayMs: number;
      /**
       * What failed before it: the Anthropic error type of an upstream answer (`http`, `in-band`:
       * `overloaded_error`, `rate_limit_error`, ...), else the failure's kind (`connection`,
       * `attempt-timeout`, `stream-stalled`, `malformed`, ...). A bounded set, fit for a label.
       */
      reason: string;
    }
  | {
      type: 'give-up';
      route: string;
      requestId: string;
      attempts: number;
      reason: 'not-transient' | 'attempts-exhausted' | 'wait-exceeds-deadline' | 'retry-budget';
    }
  | { type: 'retry-budget-rejected'; route: string; requestId: string }
  | { type: 'deadline-exceeded'; route: string; requestId: string; source: DeadlineSource; budgetMs: number }
  | { type: 'breaker-open' | 'breaker-half-open' | 'breaker-close'; key: string }
  | { type: 'breaker-rejected'; route: string; key: string; requestId: string }
  | { type: 'stream-committed'; route: string; requestId: string; attempt: number; by: 'first-event' | 'heartbeat' }
  | { type: 'client-aborted'; route: string; requestId: string; outputTokens: number | undefined }
  /** Admission: the request waits for a slot (`queued`: waiters now, itself included). */
  | {
      type: 'admission-queued';
      route: string;
      queue: string;
      requestId: string;
      lane: 'interactive' | 'batch';
      queued: number;
    }
  /** Admission: the request got its slot after waiting `waitedMs` (0 when it waited for nothing). */
  | { type: 'admission-granted'; route: string; queue: string; requestId: string; waitedMs: number }
  /** Admission: the request was answered without calling Claude. */
  | {
      type: 'admission-shed';
      route: string;
      queue: string;
      requestId: string;
      reason: 'queue-full' | 'queue-timeout' | 'rate-limit' | 'paused' | 'spend-limit' | 'client-aborted';
      waitedMs: number;
    }
  /** Admission: the request waits for the client's rate limit to reset (or its pause to end). */
  | { type: 'rate-limit-wait'; route: string; requestId: string; clientId: string; waitMs: number }
  /** An upstream answer started or extended a hold on the client (a 429's pause, a spend limit). */
  | {
      type: 'client-held';
      clientId: string;
      reason: 'paused' | 'spend-limit';
      until: number;
      errorCode: string | undefined;
    }
  /** A guarded request started (its id and deadline known), before anything else of it. */
  | { type: 'request-start'; route: string; requestId: string }
  /**
   * An upstream stream stalled: no first event within `stream.firstEventTimeoutMs` (`first-event`),
   * or silent for `stream.idleTimeoutMs` after it (`idle`).
   */
  | {
      type: 'stream-stalled';
      route: string;
      requestId: string;
      attempt: number;
      phase: 'first-event' | 'idle';
      timeoutMs: number;
    }
  | {
      /** A fallback target was tried before anything was sent (`served`: it answered). */
      type: 'fallback';
      route: string;
      requestId: string;
      /** The target's model, as sent to its client. */
      model: string;
      reason: 'breaker-open' | 'exhausted';
      stream: boolean;
      served: boolean;
    }
  | {
      /** A hedged attempt started: the first event (or a non-streaming call's headers) was late. */
      type: 'hedge-started';
      route: string;
      requestId: string;
      stream: boolean;
      /** How long the attempt before it had waited. */
      delayMs: number;
    }
  | {
      /** Which of a hedged pair answered first; the other was aborted. */
      type: 'hedge-won' | 'hedge-lost';
      route: string;
      requestId: string;
      stream: boolean;
      /** From the first attempt's start to the winner's first event (or headers). */
      firstEventMs: number;
      /**
       * `hedge-won`: the time saved, estimated from the route's observed times to first event (the mean
       * of those longer than the first attempt's wait, minus that wait); `undefined` when none were
       * longer. `hedge-lost`: 0.
       */
      savedMs: number | undefined;
    }
  /**
   * Fleet mode: a store command failed or was slower than `fleet.commandTimeoutMs` (`reason`: the
   * error's name); breakers decide on local state alone until `store-recovered`. Emitted once per outage.
   */
  | { type: 'store-degraded'; reason: string }
  /** Fleet mode: a sync succeeded after `store-degraded`; what was counted meanwhile has been shared. */
  | { type: 'store-recovered' }
  | ({ type: 'request-end' } & RequestLogRecord);

/**
 * Receives guard events. Exceptions thrown by a listener are swallowed: observing never breaks a request.
 *
 * @example
 * ```ts
 * const listener: GuardEventListener = (event) => metrics.increment(`claude_guard.${event.type}`);
 * ```
 */
export type GuardEventListener = (event: GuardEvent) => void;

/**
 * A tiny typed event hub; `on` returns a disposer so listeners never outlive their owner.
 *
 * @example
 * ```ts
 * const off = guard.on((event) => { if (event.type === 'breaker-open') alert(event.key); });
 * off();
 * ```
 */
export class GuardEvents {
  readonly #listeners = new Set<GuardEventListener>();

  on(listener: GuardEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get active(): boolean {
    return this.#listeners.size > 0;
  }

  emit(event: GuardEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A broken observer must not change the answer a client gets.
      }
    }
  }
}

import type { ClaudeClient } from './claude-client.js';
import type { Deadline } from './deadline.js';
import { isClaudeGuardError } from './guard-error.js';
import type { RequestRecord } from './request-record.js';
import { SDK_CALL, type AttemptStarter, type PolicyEvents, type RetryCall, type RetryPolicy } from './retry-loop.js';

export type { FallbackClient, FallbackTarget } from './fallback-options.js';

/** @internal A target ready to be called: its client, its own policy (attempt limit, breaker). */
export interface ResolvedTarget {
  readonly model: string;
  readonly client: ClaudeClient;
  readonly breakerKey: string;
  readonly maxAttempts: number;
  readonly policy: RetryPolicy;
}

/** Why a fallback was asked for. */
export type FallbackReason = 'breaker-open' | 'exhausted';

// The failures a fallback answers: the breaker refused, or the upstream could not give an answer.
// The caller's own fault, the caller's deadline and its disconnect are not among them.
const FALLBACK_OUTCOMES: ReadonlySet<string> = new Set([
  'breaker-open',
  'upstream-error',
  'upstream-unreachable',
  'attempt-timeout',
  'stream-stalled',
  'retry-budget-exhausted',
]);

/**
 * Whether `error` (the route's own final failure) is one a fallback answers, and why.
 *
 * @param error - The retry policy's final failure.
 * @param deadline - The request's deadline: none once it ran out or the client left.
 * @returns The reason, or `undefined` when no fallback may answer.
 *
 * @example
 * ```ts
 * if (fallbackReason(error, deadline) === undefined) throw error;
 * ```
 */
export function fallbackReason(error: unknown, deadline: Deadline): FallbackReason | undefined {
  if (!isClaudeGuardError(error) || !FALLBACK_OUTCOMES.has(error.outcome) || deadline.signal.aborted) return undefined;
  return error.outcome === 'breaker-open' ? 'breaker-open' : 'exhausted';
}

/** What a chain reports into: the request's record (attempts count; failures stay the route's own). */
export interface FallbackCall {
  readonly deadline: Deadline;
  readonly record: Pick<RequestRecord, 'requestId' | 'attemptStarted' | 'startAttemptSpan'>;
}

/** What a served fallback answered with, and which target it was. */
export interface FallbackServed<T> {
  readonly value: T;
  readonly target: ResolvedTarget;
  readonly reason: FallbackReason;
}

const noop = (): void => {};

/**
 * A route's fallback targets, tried in order, each under its own breaker and attempt limit, each
 * with what is left of the request's deadline. Built once per route.
 *
 * @example
 * ```ts
 * const served = await chain.serve(error, { deadline, record }, false, (target) => (context) => send(target, context));
 * ```
 */
export class FallbackChain {
  readonly #route: string;
  readonly #events: PolicyEvents;
  readonly targets: readonly ResolvedTarget[];

  constructor(route: string, targets: readonly ResolvedTarget[], events: PolicyEvents) {
    this.#route = route;
    this.targets = targets;
    this.#events = events;
  }

  /**
   * Serves a call whose own attempts ended in `error` from the first target that answers; throws
   * `error` again when none may (see {@link fallbackReason}) or none does, so the client is told the
   * route's own failure, as without a fallback.
   *
   * @param error - The route's final failure.
   * @param call - The request's deadline and record.
   * @param stream - For the `fallback` event.
   * @param attemptFor - Starts one attempt on a target.
   * @returns The answer and the target that gave it.
   */
  async serve<T>(
    error: unknown,
    call: FallbackCall,
    stream: boolean,
    attemptFor: (target: ResolvedTarget) => AttemptStarter<T>,
  ): Promise<FallbackServed<T>> {
    const reason = fallbackReason(error, call.deadline);
    if (reason === undefined) throw error;
    const { record, deadline } = call;
    // A target's failures are its own: the request keeps the route's failure (what the client is told),
    // and counts the target's attempts.
    // Its attempts still get attempt spans (with the target's model), as the route's own do.
    const quietFor = (target: ResolvedTarget): RetryCall['record'] => ({
      requestId: record.requestId,
      attemptStarted: () => record.attemptStarted(),
      upstreamIdentified: noop,
      failed: noop,
      observed: false,
      emit: noop,
      startAttemptSpan: (attempt) => record.startAttemptSpan(attempt, target.model),
    });
    for (const target of this.targets) {
      if (deadline.signal.aborted) break;
      let value: T;
      try {
        value = await target.policy.execute(attemptFor(target), { deadline, record: quietFor(target) }, SDK_CALL);
      } catch {
        this.#emit(record.requestId, target, reason, stream, false);
        continue;
      }
      this.#emit(record.requestId, target, reason, stream, true);
      return { value, target, reason };
    }
    throw error;
  }

  #emit(requestId: string, target: ResolvedTarget, reason: FallbackReason, stream: boolean, served: boolean): void {
    if (!this.#events.active) return;
    this.#events.emit({ type: 'fallback', route: this.#route, requestId, model: target.model, reason, stream, served });
  }
}

import { sleep, type Clock } from './clock.js';
import {
  createConcurrencyLimiter,
  QueueFullError,
  QueueTimeoutError,
  type ConcurrencyLimiter,
  type ConcurrencyStats,
  type Lane,
  type Release,
} from './concurrency-limiter.js';
import { ClientAbortedError, deadlineAbortReason, type Deadline } from './deadline.js';
import { redactSecrets } from './error-body.js';
import type { GuardEvent } from './events.js';
import { FleetRateLimits } from './fleet-rate-limits.js';
import type { FleetSync } from './fleet-sync.js';
import { heldError, queueFullError, queueTimeoutError } from './failure-wording.js';
import { ClaudeGuardError } from './guard-error.js';
import type { NormalizedConcurrency, NormalizedRateLimits } from './options.js';
import {
  createRateLimitTracker,
  type ClientRateLimitView,
  type RateLimitTicket,
  type RateLimitTracker,
} from './rate-limit-tracker.js';
import { retryAfterSeconds } from './retry-after.js';
import { estimateInputTokens } from './token-estimate.js';

/** Where admission's events go: the guard's event hub. */
export interface AdmissionEvents {
  readonly active: boolean;
  emit(event: GuardEvent): void;
}

/**
 * One queue's view in {@link AdmissionStatus}: its limits, slots held and waiters per lane.
 *
 * @example
 * ```ts
 * const busy = guard.status().admission.queues.filter((q) => q.queued.interactive + q.queued.batch > 0);
 * ```
 */
export type QueueStatus = ConcurrencyStats;

/**
 * Admission control's state, in `guard.status()`: every limited queue (one per breaker key) and every
 * client's last rate-limit view and hold.
 *
 * @example
 * ```ts
 * const { queues, clients } = guard.status().admission;
 * ```
 */
export interface AdmissionStatus {
  queues: QueueStatus[];
  clients: ClientRateLimitView[];
}

/**
 * What a public `/guard/status` shows of admission control: slot and queue counts, each client's remaining
 * counts and any hold's reason and wait in whole seconds (never the upstream's message).
 *
 * @example
 * ```ts
 * res.json(guard.publicStatus().admission);
 * ```
 */
export interface PublicAdmissionStatus {
  queues: { key: string; maxConcurrency: number | undefined; active: number; queued: number }[];
  clients: {
    clientId: string;
    limits: ClientRateLimitView['limits'];
    hold: { reason: 'paused' | 'spend-limit'; retryAfterSeconds: number } | undefined;
  }[];
}

const NOOP_RELEASE: Release = () => {};

/**
 * Admission control of one guard: the rate-limit tracker of its client (one API key, named by a hash) and
 * one concurrency limiter per breaker key, created by the first route that names the key.
 *
 * @example
 * ```ts
 * const registry = new AdmissionRegistry(config.rateLimits, 'client_9d1c3b6f0a7e4d52', clock, events, secrets);
 * const admission = registry.forRoute('chat', 'chat', config.concurrency, false);
 * ```
 */
export class AdmissionRegistry {
  readonly tracker: RateLimitTracker | undefined;
  readonly clientId: string;
  readonly #clock: Clock;
  readonly #events: AdmissionEvents;
  readonly #secrets: readonly string[];
  /** The estimate `admit` made, handed on to the `messages.create` that follows (one walk of the body per call). */
  readonly #estimates = new EstimateMemo();
  /** Fleet mode: the client's view and holds, shared with the other replicas. */
  readonly #fleet: FleetRateLimits | undefined;
  #answers: UpstreamAnswers | undefined;
  readonly #limiters = new Map<
    string,
    { limiter: ConcurrencyLimiter; route: string; options: NormalizedConcurrency }
  >();

  constructor(
    rateLimits: NormalizedRateLimits,
    clientId: string,
    clock: Clock,
    events: AdmissionEvents,
    secrets: readonly string[],
    fleet?: FleetSync,
  ) {
    this.clientId = clientId;
    this.#clock = clock;
    this.#events = events;
    this.#secrets = secrets;
    this.tracker = rateLimits.enabled
      ? createRateLimitTracker({
          clock,
          reserve: rateLimits.reserve,
          spendLimitHoldMs: rateLimits.spendLimitHoldMs,
          maxClients: rateLimits.maxClients,
        })
      : undefined;
    this.#fleet =
      this.tracker && fleet ? new FleetRateLimits(this.tracker, clientId, fleet, () => clock.now()) : undefined;
  }

  /**
   * A route's admission, or `undefined` when it has nothing to do (no concurrency limit, rate limits off):
   * such a route pays nothing per request. Routes sharing `key` share its limiter and must give it the
   * same limits (a `TypeError` naming both routes otherwise), except a route `guard.run` created
   * (`byRun`), which shares the existing one as it is.
   */
  forRoute(route: string, key: string, options: NormalizedConcurrency, byRun: boolean): RouteAdmission | undefined {
    let entry = this.#limiters.get(key);
    if (entry === undefined) {
      entry = {
        route,
        options,
        limiter: createConcurrencyLimiter({
          name: key,
          maxConcurrency: options.maxConcurrency,
          maxQueue: options.maxQueue,
          batchMaxWaitMs: options.batchMaxWaitMs,
          clock: this.#clock,
        }),
      };
      this.#limiters.set(key, entry);
    } else if (!byRun) {
      const first = entry.options;
      for (const name of ['maxConcurrency', 'maxQueue', 'batchMaxWaitMs'] as const) {
        if (first[name] === options[name]) continue;
        throw new TypeError(
          `claude-guard: routes '${entry.route}' and '${route}' share breaker key '${key}' (one concurrency limiter) ` +
            `with different \`concurrency.${name}\`: ${String(first[name])} and ${String(options[name])}. Give them ` +
            'the same concurrency options, or different breaker keys',
        );
      }
    }
    if (!entry.limiter.limited && this.tracker === undefined) return undefined;
    return new RouteAdmission({
      route,
      limiter: entry.limiter,
      tracker: this.tracker,
      clientId: this.clientId,
      lane: options.lane,
      queueFullRetryAfterMs: options.queueFullRetryAfterMs,
      clock: this.#clock,
      events: this.#events,
      estimates: this.#estimates,
    });
  }

  /**
   * Where the rate-limit tracker hears what the upstream answered the guard's calls: each attempt's
   * headers or failure and each message's usage, told by the attempt itself (`sendMessage`, the stream
   * engine, the SDK middleware). `undefined` when rate limits are off.
   */
  get answers(): UpstreamAnswers | undefined {
    const tracker = this.tracker;
    if (tracker === undefined) return undefined;
    return (this.#answers ??= this.#readAnswers(tracker));
  }

  #readAnswers(tracker: RateLimitTracker): UpstreamAnswers {
    const { clientId } = this;
    const watch = (answer: Parameters<RateLimitTracker['observe']>[1]): void => {
      const hold = tracker.observe(clientId, answer);
      if (hold === undefined) return;
      this.#fleet?.publish();
      if (this.#events.active) this.#events.emit({ type: 'client-held', clientId, ...hold });
    };
    return {
      // The estimate admission just made of this body when there is one (no second walk), else a new one.
      ticket: (body) => tracker.estimate(clientId, this.#estimates.take(body), { debit: false }),
      answered: (response) => watch({ status: response.status, headers: response.headers }),
      failed: (error) => watch(upstreamAnswerOf(error, this.#secrets)),
      reconcile: (ticket, usage) => tracker.reconcile(ticket, usage),
    };
  }

  status(): AdmissionStatus {
    return {
      queues: [...this.#limiters.values()].filter((e) => e.limiter.limited).map((e) => e.limiter.stats()),
      clients: this.tracker?.snapshot() ?? [],
    };
  }

  publicStatus(): PublicAdmissionStatus {
    const now = this.#clock.now();
    return {
      queues: [...this.#limiters.values()]
        .filter((e) => e.limiter.limited)
        .map((e) => {
          const stats = e.limiter.stats();
          return {
            key: stats.name,
            maxConcurrency: stats.maxConcurrency,
            active: stats.active,
            queued: stats.queued.interactive + stats.queued.batch,
          };
        }),
      clients: (this.tracker?.snapshot() ?? []).map((view) => ({
        clientId: view.clientId,
        limits: view.limits,
        hold: view.hold && {
          reason: view.hold.reason,
          retryAfterSeconds: Number(retryAfterSeconds(Math.max(0, Date.parse(view.hold.until) - now))),
        },
      })),
    };
  }
}

/**
 * How the rate-limit tracker hears what the upstream answered a call: its status and headers, or the
 * error it failed with (a 429's hold, a spend limit's redacted message), and a message's `usage`
 * against the estimate taken when the call was sent.
 *
 * @example
 * ```ts
 * const ticket = answers.ticket(params);
 * const response = await send();
 * answers.answered(response);
 * answers.reconcile(ticket, (await response.json()).usage);
 * ```
 */
export interface UpstreamAnswers {
  /**
   * Before a call with request body `body` is sent (nothing debited: admission did that): the ticket
   * its `usage` reconciles, on admission's estimate of that body when it has just made one.
   */
  ticket(body: unknown): RateLimitTicket;
  /** An answer's status and `anthropic-ratelimit-*` headers. */
  answered(response: { readonly status: number; readonly headers: Headers }): void;
  /** A failed call's error (the SDK's `APIError`, duck-typed): a 429 holds the client. */
  failed(error: unknown): void;
  /** A message's `usage`, against the call's ticket. */
  reconcile(ticket: RateLimitTicket, usage: Parameters<RateLimitTracker['reconcile']>[1]): void;
}

/** What the tracker may read of a failed attempt: the SDK's `APIError` fields, duck-typed (any SDK copy). */
function upstreamAnswerOf(error: unknown, secrets: readonly string[]): Parameters<RateLimitTracker['observe']>[1] {
  const e = error as { status?: unknown; headers?: unknown; errorCode?: unknown; apiMessage?: unknown } | null;
  const headers = e?.headers instanceof Headers ? e.headers : undefined;
  const status = typeof e?.status === 'number' ? e.status : undefined;
  return {
    status,
    headers,
    errorCode: typeof e?.errorCode === 'string' ? e.errorCode : undefined,
    // Shown to clients during a spend-limit hold: redacted like every upstream string.
    message: typeof e?.apiMessage === 'string' ? redactSecrets(e.apiMessage, secrets) : undefined,
  };
}

/** Collaborators of a {@link RouteAdmission}, given once when the route is mounted. */
export interface RouteAdmissionOptions {
  readonly route: string;
  readonly limiter: ConcurrencyLimiter;
  readonly tracker: RateLimitTracker | undefined;
  readonly clientId: string;
  /** The route's lane, when a call names none. */
  readonly lane: Lane;
  readonly queueFullRetryAfterMs: number;
  readonly clock: Clock;
  readonly events: AdmissionEvents;
  /** Shared with the guard's attempts, whose tickets reuse the estimate of the body they are about to send. */
  readonly estimates: EstimateMemo;
}

/**
 * The last body estimated and its tokens: `admit` estimates a body, and the `messages.create` that
 * follows with that same object takes the figure instead of walking the body again. Taken once, then
 * forgotten, so a body changed and sent again is estimated anew.
 */
export class EstimateMemo {
  #body: unknown = undefined;
  #tokens = 0;

  estimate(body: unknown): number {
    this.#body = body;
    return (this.#tokens = estimateInputTokens(body));
  }

  take(body: unknown): number {
    if (body === undefined || body !== this.#body) return estimateInputTokens(body);
    this.#body = undefined;
    return this.#tokens;
  }
}

/** What one request asks admission for. */
export interface AdmissionRequest {
  readonly deadline: Deadline;
  readonly requestId: string;
  /** Default: the route's. */
  readonly lane?: Lane | undefined;
  /** The request body, for its input-token estimate; `undefined` (a caller's `run(fn)`): 0. */
  readonly body?: unknown;
}

/**
 * Admission control of one route, the policy between the deadline and the retry loop: the client's
 * rate-limit hold first (wait for the reset when the deadline reaches past it, else an immediate 429),
 * then a slot of the route's concurrency limiter (a bounded two-lane queue; a full queue is an immediate
 * 503, a deadline that runs out in it a 504, a client that leaves it a 499). Every refusal is a
 * {@link ClaudeGuardError} thrown before Claude is called. The slot is the caller's to release, once,
 * when the call (every retry of it, a stream until its end) is over.
 *
 * @example
 * ```ts
 * const release = await admission.admit({ deadline, requestId, body: params });
 * try {
 *   return await policy.execute(start, call, SDK_CALL);
 * } finally {
 *   release();
 * }
 * ```
 */
export class RouteAdmission {
  readonly #options: RouteAdmissionOptions;

  constructor(options: RouteAdmissionOptions) {
    this.#options = options;
  }

  /**
   * Resolves with the slot's {@link Release} once the request may call Claude; rejects with the sanitized
   * error that answers it otherwise. A deadline already spent (or a client already gone) is let through
   * at once with a no-op release: the retry loop answers it as it always does, without calling Claude.
   */
  admit(request: AdmissionRequest): Release | Promise<Release> {
    // The common case, decided synchronously (no promise, no await on the hot path): the client's limits
    // allow the call and a slot is free with nobody waiting.
    const { tracker, clientId, limiter, estimates } = this.#options;
    if (deadlineAbortReason(request.deadline)) return NOOP_RELEASE;
    const estimatedInputTokens = tracker && request.body !== undefined ? estimates.estimate(request.body) : 0;
    if (tracker && !tracker.check(clientId, { estimatedInputTokens }).ok)
      return this.#admitLater(request, estimatedInputTokens);
    const release = limiter.tryAcquire();
    if (release === undefined) return this.#admitLater(request, estimatedInputTokens);
    tracker?.estimate(clientId, estimatedInputTokens);
    return release;
  }

  async #admitLater(request: AdmissionRequest, estimatedInputTokens: number): Promise<Release> {
    const { tracker, clientId, clock } = this.#options;
    const since = clock.now();
    for (;;) {
      if (tracker) await this.#waitForLimits(request, estimatedInputTokens, since);
      const release = await this.#acquire(request, since);
      if (!tracker) return release;
      // The limits may have changed while it queued: take the slot only if they still allow the call. The
      // debit follows the check at once: requests woken together at a reset each see the others' share.
      if (tracker.check(clientId, { estimatedInputTokens }).ok) {
        tracker.estimate(clientId, estimatedInputTokens);
        return release;
      }
      release();
    }
  }

  async #waitForLimits(request: AdmissionRequest, estimatedInputTokens: number, since: number): Promise<void> {
    const { tracker, clientId, clock, events, route } = this.#options;
    const { deadline, requestId } = request;
    for (;;) {
      const verdict = tracker!.check(clientId, { estimatedInputTokens });
      if (verdict.ok) return;
      // Sent at `until` at the earliest: a deadline that does not reach past it cannot be served.
      if (verdict.reason === 'spend-limit' || verdict.until >= deadline.at) {
        this.#shed(request, verdict.reason, since);
        throw heldError(verdict.reason, verdict.message, verdict.retryAfterMs);
      }
      if (events.active) {
        events.emit({ type: 'rate-limit-wait', route, requestId, clientId, waitMs: verdict.retryAfterMs });
      }
      try {
        await sleep(clock, verdict.retryAfterMs, deadline.signal);
      } catch (reason) {
        throw this.#abandoned(request, reason, `rate-limit hold of ${clientId}`, since);
      }
    }
  }

  async #acquire(request: AdmissionRequest, since: number): Promise<Release> {
    const { limiter, clock, events, route } = this.#options;
    if (!limiter.limited) return NOOP_RELEASE;
    // A free slot and nobody waiting: granted at once, without reading (and so making) the deadline's signal.
    const now = limiter.tryAcquire();
    if (now !== undefined) return now;
    const lane = request.lane ?? this.#options.lane;
    const stats = limiter.stats();
    const queued = stats.queued.interactive + stats.queued.batch;
    const { deadline, requestId } = request;
    if (events.active && queued < stats.maxQueue) {
      events.emit({ type: 'admission-queued', route, queue: limiter.name, requestId, lane, queued: queued + 1 });
    }
    const enqueuedAt = clock.now();
    let release: Release;
    try {
      release = await limiter.acquire({ lane, signal: deadline.signal, deadlineAt: deadline.at });
    } catch (error) {
      if (error instanceof QueueFullError) {
        this.#shed(request, 'queue-full', since);
        throw queueFullError(route, limiter.name, error.maxQueue, this.#options.queueFullRetryAfterMs);
      }
      throw this.#abandoned(request, error, limiter.name, since);
    }
    if (events.active) {
      events.emit({
        type: 'admission-granted',
        route,
        queue: limiter.name,
        requestId,
        waitedMs: clock.now() - enqueuedAt,
      });
    }
    return release;
  }

  /** The request left while waiting: its client went away (499), or its deadline ran out (504 naming the wait). */
  #abandoned(request: AdmissionRequest, reason: unknown, queue: string, since: number): ClaudeGuardError {
    const { route, clock } = this.#options;
    const waitedMs = clock.now() - since;
    if (reason instanceof ClientAbortedError || request.deadline.clientAborted) {
      this.#shed(request, 'client-aborted', since);
      return new ClaudeGuardError({
        status: 499,
        type: 'api_error',
        message: 'The client closed the connection',
        outcome: 'client-aborted',
        attempts: 0,
      });
    }
    if (!(reason instanceof QueueTimeoutError) && !request.deadline.expired) {
      // Nothing else aborts the deadline: keep an unknown reason's meaning rather than guess.
      throw reason;
    }
    this.#shed(request, 'queue-timeout', since);
    return queueTimeoutError(route, queue, waitedMs);
  }

  #shed(request: AdmissionRequest, reason: Extract<GuardEvent, { type: 'admission-shed' }>['reason'], since: number) {
    const { events, route, limiter, clock } = this.#options;
    if (!events.active) return;
    events.emit({
      type: 'admission-shed',
      route,
      queue: limiter.name,
      requestId: request.requestId,
      reason,
      waitedMs: clock.now() - since,
    });
  }
}

import type { Clock } from './clock.js';
import { readRetryAdvice } from './retry-after.js';

/**
 * The four limits the Anthropic API reports in `anthropic-ratelimit-<name>-{limit,remaining,reset}`.
 *
 * @example
 * ```ts
 * const name: RateLimitName = 'input-tokens';
 * ```
 */
export type RateLimitName = 'requests' | 'input-tokens' | 'output-tokens' | 'tokens';

/**
 * Every {@link RateLimitName}, in the order they are checked.
 *
 * @example
 * ```ts
 * for (const name of RATE_LIMIT_NAMES) headers.get(`anthropic-ratelimit-${name}-remaining`);
 * ```
 */
export const RATE_LIMIT_NAMES: readonly RateLimitName[] = ['requests', 'input-tokens', 'output-tokens', 'tokens'];

/**
 * The `error.details.error_code`s of a 429 that retrying cannot fix: the organization's spend limits
 * (`EnforcedSpendLimitReachedError`, `ContractSpendLimitReachedError` in SDK 1.14). `ramp_limit_exceeded` is
 * not one of them: it is retried after its `retry-after`.
 *
 * @example
 * ```ts
 * SPEND_LIMIT_ERROR_CODES.includes('enforced_spend_limit_reached'); // true
 * ```
 */
export const SPEND_LIMIT_ERROR_CODES: readonly string[] = [
  'enforced_spend_limit_reached',
  'contract_spend_limit_reached',
];

/**
 * Whether an upstream 429's `error.details.error_code` is a spend limit: never retried, not upstream ill
 * health, and a hold on the client.
 *
 * @param code - `error.details.error_code` (the SDK's `APIError.errorCode`), or anything else.
 * @returns True for `enforced_spend_limit_reached` and `contract_spend_limit_reached`.
 *
 * @example
 * ```ts
 * isSpendLimitErrorCode(error.errorCode); // error: an APIError from the SDK
 * ```
 */
export function isSpendLimitErrorCode(code: unknown): boolean {
  return typeof code === 'string' && SPEND_LIMIT_ERROR_CODES.includes(code);
}

/**
 * How much of each limit to keep back, by the option names users write.
 *
 * @example
 * ```ts
 * const reserve: RateLimitReserve = { requests: 2, inputTokens: 4_000 };
 * ```
 */
export interface RateLimitReserve {
  requests?: number | undefined;
  inputTokens?: number | undefined;
  outputTokens?: number | undefined;
  tokens?: number | undefined;
}

/**
 * Options of {@link createRateLimitTracker}.
 *
 * @example
 * ```ts
 * const options: RateLimitTrackerOptions = { clock: systemClock, reserve: { requests: 2 }, spendLimitHoldMs: 60_000 };
 * ```
 */
export interface RateLimitTrackerOptions {
  /** Wall-clock ms (the `reset` headers are RFC 3339 times): the guard's clock. */
  clock: Pick<Clock, 'now'>;
  /** Kept back from each limit: hold once `remaining - needed` would drop below it. Default 0 for each. */
  reserve?: RateLimitReserve | undefined;
  /** How long a spend-limit 429 without `retry-after` holds its client. Default 60 000. */
  spendLimitHoldMs?: number | undefined;
  /** Clients remembered at most; the least recently heard from is forgotten first. Default 1 000. */
  maxClients?: number | undefined;
}

/**
 * What the tracker reads from one upstream answer.
 *
 * @example
 * ```ts
 * tracker.observe(clientId, { status: 429, headers: response.headers, errorCode: 'ramp_limit_exceeded' });
 * ```
 */
export interface UpstreamAnswer {
  /** The response headers; absent for a connection error. */
  readonly headers: Headers | null | undefined;
  readonly status?: number | undefined;
  /** `error.details.error_code` of an error body (the SDK's `APIError.errorCode`). */
  readonly errorCode?: string | null | undefined;
  /** `error.message`, already redacted (no secret in any form): kept and shown in the answers of a hold. */
  readonly message?: string | undefined;
}

/**
 * The answer of {@link RateLimitTracker.check}: go ahead, or wait until `until`.
 *
 * - `rate-limit`: the limit `limit` has less left than this request needs (plus its reserve) until its reset.
 * - `paused`: the upstream answered 429 with `retry-after` (a rate limit or a ramp limit) for this client.
 * - `spend-limit`: the upstream answered a spend-limit 429; retrying before `until` cannot succeed.
 *
 * @example
 * ```ts
 * const verdict = tracker.check(clientId, { estimatedInputTokens: 1_200 });
 * if (!verdict.ok && verdict.reason !== 'spend-limit' && deadline.at > verdict.until) await sleep(clock, verdict.retryAfterMs, signal);
 * ```
 */
export type RateLimitVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: 'rate-limit' | 'paused' | 'spend-limit';
      /** The limit that is spent (`rate-limit` only). */
      readonly limit: RateLimitName | undefined;
      /** The upstream's `error_code` behind a pause or hold. */
      readonly errorCode: string | undefined;
      /** Clock time at which the client may be tried again. */
      readonly until: number;
      /** `until - now`, at least 1. */
      readonly retryAfterMs: number;
      /** Safe to show a client: names the limit, or carries the upstream's redacted message. */
      readonly message: string;
    };

/**
 * A request's estimate, taken when it is sent, for {@link RateLimitTracker.reconcile}.
 *
 * @example
 * ```ts
 * const ticket: RateLimitTicket = tracker.estimate(clientId, estimateInputTokens(body));
 * ```
 */
export interface RateLimitTicket {
  readonly clientId: string;
  /** The heuristic's estimate, before calibration. */
  readonly estimated: number;
  /** What was debited from the input-token views: the estimate times the client's calibration. */
  readonly debited: number;
  /** Header observations of the client when the ticket was taken. */
  readonly generation: number;
}

/**
 * A pause or spend-limit hold that {@link RateLimitTracker.observe} just started or extended.
 *
 * @example
 * ```ts
 * const hold: ClientHold | undefined = tracker.observe(clientId, answer);
 * if (hold) events.emit({ type: 'client-held', clientId, ...hold });
 * ```
 */
export interface ClientHold {
  readonly reason: 'paused' | 'spend-limit';
  /** Clock time the hold ends. */
  readonly until: number;
  readonly errorCode: string | undefined;
}

/**
 * One client's view, for `status()`: serializable as is.
 *
 * @example
 * ```ts
 * for (const view of tracker.snapshot()) console.log(view.clientId, view.limits.requests?.remaining);
 * ```
 */
export interface ClientRateLimitView {
  readonly clientId: string;
  readonly limits: Partial<Record<RateLimitName, { limit: number; remaining: number; resetAt: string }>>;
  /** An active pause or spend-limit hold. */
  readonly hold:
    { reason: 'paused' | 'spend-limit'; until: string; errorCode: string | undefined; message: string } | undefined;
  /** Actual input tokens / estimate, learned from `usage` (1 until the first reconciliation). */
  readonly estimateRatio: number;
}

/**
 * Per-client Anthropic rate-limit awareness, fed by every upstream answer.
 *
 * @example
 * ```ts
 * const verdict = tracker.check(clientId, { estimatedInputTokens });
 * if (verdict.ok) {
 *   const ticket = tracker.estimate(clientId, estimatedInputTokens);
 *   const response = await send();
 *   tracker.observe(clientId, { status: response.status, headers: response.headers });
 *   tracker.reconcile(ticket, message.usage);
 * }
 * ```
 */
export interface RateLimitTracker {
  /**
   * Reads an answer: its `anthropic-ratelimit-*` headers replace the client's view of those limits; a 429
   * with `retry-after` pauses the client until then; a spend-limit 429 holds it until its `retry-after`, or
   * for `spendLimitHoldMs`, keeping `message`. A later plain pause never shortens a spend-limit hold.
   * Returns the hold when this answer started or extended one.
   */
  observe(clientId: string, answer: UpstreamAnswer): ClientHold | undefined;
  /** Whether a request of `estimatedInputTokens` (raw heuristic estimate) may go now. Reads only. */
  check(clientId: string, request: { readonly estimatedInputTokens: number; readonly now?: number }): RateLimitVerdict;
  /**
   * Records a request being sent: takes 1 request and its (calibrated) estimate of input tokens from the
   * views, so requests sent before the next answer see a shrinking budget. `{ debit: false }`: only the
   * ticket, for a request already debited (admitted right after its `check`).
   */
  estimate(clientId: string, estimatedInputTokens: number, options?: { readonly debit?: boolean }): RateLimitTicket;
  /**
   * Corrects with the `usage` that came back: the calibration ratio learns from it, and when no newer
   * headers have replaced the views since the ticket, the views trade the estimate for the real input and
   * also lose the output tokens.
   */
  reconcile(
    ticket: RateLimitTicket,
    usage: { readonly input_tokens?: number | null; readonly output_tokens?: number | null } | null | undefined,
  ): void;
  /** Every remembered client's view. */
  snapshot(): ClientRateLimitView[];
  /**
   * @internal Fleet mode: what this replica knows of `clientId` that every replica should, as of now
   * (active hold, limits whose reset is still ahead); no upstream message. `undefined`: nothing.
   */
  shared(clientId: string): SharedRateLimitState | undefined;
  /**
   * @internal Fleet mode: merges what another replica knows of `clientId`: a longer or stronger hold
   * (a spend limit over a pause) replaces the local one; a limit of a later window replaces the local
   * view, one of the same window lowers its `remaining`. Returns true when anything changed.
   */
  adopt(clientId: string, state: SharedRateLimitState): boolean;
}

/**
 * What a fleet's replicas share of one client's rate limits through the store (see
 * {@link RateLimitTracker.shared}): plain numbers and the upstream's `error_code`, never a message.
 *
 * @example
 * ```ts
 * const state: SharedRateLimitState = { hold: { reason: 'paused', until: 1_700_000_030_000, errorCode: undefined }, limits: {} };
 * ```
 */
export interface SharedRateLimitState {
  readonly hold?:
    | { readonly reason: 'paused' | 'spend-limit'; readonly until: number; readonly errorCode?: string | undefined }
    | undefined;
  readonly limits: Partial<
    Record<RateLimitName, { readonly limit: number; readonly remaining: number; readonly resetAt: number }>
  >;
}

interface LimitView {
  limit: number;
  remaining: number;
  resetAt: number;
  /**
   * Its `reset` passed and requests were sent since, before any answer told the new state: `remaining`
   * counts down from `limit` what was sent blind, so the requests held until the reset cannot all go at once.
   */
  blind: boolean;
}

interface Hold {
  reason: 'paused' | 'spend-limit';
  until: number;
  errorCode: string | undefined;
  message: string;
}

interface ClientState {
  readonly views: Partial<Record<RateLimitName, LimitView>>;
  hold: Hold | undefined;
  generation: number;
  ratio: number;
}

// A count as the API sends it: a non-negative integer, no sign or exponent, below 2^53.
const COUNT = /^(?:0|[1-9]\d{0,14})$/;
// RFC 3339 date-time (Date.parse alone accepts far more).
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const MAX_MESSAGE_CHARS = 500;
// A limit spent blind (see LimitView.blind) is checked again this often, until an answer says how it stands.
const BLIND_RECHECK_MS = 250;
// The calibration learns a fifth of each new observation, within [1/4, 4] of the heuristic.
const RATIO_WEIGHT = 0.2;
const MIN_RATIO = 0.25;
const MAX_RATIO = 4;
const RESERVE_KEYS: Readonly<Record<keyof RateLimitReserve, RateLimitName>> = {
  requests: 'requests',
  inputTokens: 'input-tokens',
  outputTokens: 'output-tokens',
  tokens: 'tokens',
};
const LABEL: Readonly<Record<RateLimitName, string>> = {
  requests: 'requests',
  'input-tokens': 'input tokens',
  'output-tokens': 'output tokens',
  tokens: 'tokens',
};

/**
 * Creates a {@link RateLimitTracker}.
 *
 * A client (an API key, named by `clientIdOf`) is held when, for any limit whose reset is still ahead,
 * `remaining - needed < reserve`, where `needed` is 1 for `requests` and `output-tokens` and the calibrated
 * input estimate (at least 1) for `input-tokens` and `tokens`; it is held until that limit's `reset`, the
 * time the API says the limit is whole again (with several, the latest). A limit that could not fit the
 * request even when whole (`needed + reserve > limit`) never holds it: the estimate is a heuristic, the
 * upstream decides. Once a `reset` has passed, that limit is taken as whole until the next answer says
 * otherwise, except that what is sent after a `reset` and before the next answer counts down from the whole
 * limit, so requests held until the reset do not all go at once: once that runs out, new requests are held
 * (checked again every 250 ms) until an answer tells the new state. Holding until `reset` is right for the API's continuously refilled buckets and for fixed
 * windows alike, at the cost of some idle capacity with the former.
 *
 * State is per client, at most `maxClients` of them, with no timers: everything is computed from the clock
 * when asked.
 *
 * @param options - Validated once here; errors name the option.
 * @returns The tracker.
 * @throws TypeError naming the option when one is out of range.
 *
 * @example
 * ```ts
 * const tracker = createRateLimitTracker({ clock: systemClock, reserve: { requests: 1 } });
 * const clientId = clientIdOf(apiKey);
 * const estimatedInputTokens = estimateInputTokens(body);
 * const verdict = tracker.check(clientId, { estimatedInputTokens });
 * if (!verdict.ok) throw new Error(verdict.message);
 * const ticket = tracker.estimate(clientId, estimatedInputTokens);
 * const response = await fetch(url, { method: 'POST', body: JSON.stringify(body) });
 * tracker.observe(clientId, { status: response.status, headers: response.headers });
 * tracker.reconcile(ticket, (await response.json()).usage);
 * ```
 */
export function createRateLimitTracker(options: RateLimitTrackerOptions): RateLimitTracker {
  const { clock } = options;
  if (typeof clock?.now !== 'function') throw new TypeError('createRateLimitTracker: options.clock must be a Clock');
  const reserve: Record<RateLimitName, number> = { requests: 0, 'input-tokens': 0, 'output-tokens': 0, tokens: 0 };
  if (options.reserve !== undefined) {
    if (typeof options.reserve !== 'object' || options.reserve === null) {
      throw new TypeError('createRateLimitTracker: options.reserve must be an object such as { requests: 1 }');
    }
    for (const [key, value] of Object.entries(options.reserve)) {
      if (!Object.hasOwn(RESERVE_KEYS, key)) {
        throw new TypeError(
          `createRateLimitTracker: options.reserve has an unknown key '${key}' (known: ${Object.keys(RESERVE_KEYS).join(', ')})`,
        );
      }
      if (value === undefined) continue;
      if (!(Number.isInteger(value) && value >= 0)) {
        throw new TypeError(
          `createRateLimitTracker: options.reserve.${key} must be a non-negative integer, got ${String(value)}`,
        );
      }
      reserve[RESERVE_KEYS[key as keyof RateLimitReserve]] = value as number;
    }
  }
  const spendLimitHoldMs = options.spendLimitHoldMs ?? 60_000;
  if (typeof spendLimitHoldMs !== 'number' || !Number.isFinite(spendLimitHoldMs) || spendLimitHoldMs < 0) {
    throw new TypeError(
      `createRateLimitTracker: options.spendLimitHoldMs must be a finite number >= 0, got ${String(spendLimitHoldMs)}`,
    );
  }
  const maxClients = options.maxClients ?? 1_000;
  if (!(Number.isInteger(maxClients) && maxClients >= 1)) {
    throw new TypeError(
      `createRateLimitTracker: options.maxClients must be a positive integer, got ${String(maxClients)}`,
    );
  }

  // Insertion order is recency: observe() moves a client to the end, the first is the one to forget.
  const clients = new Map<string, ClientState>();

  // The client touched last is already the most recent: most services call with one key.
  let newest: { id: string; state: ClientState } | undefined;
  const touch = (clientId: string): ClientState => {
    if (newest !== undefined && newest.id === clientId) return newest.state;
    let state = clients.get(clientId);
    if (state) clients.delete(clientId);
    else state = { views: {}, hold: undefined, generation: 0, ratio: 1 };
    clients.set(clientId, state);
    if (clients.size > maxClients) clients.delete(clients.keys().next().value as string);
    newest = { id: clientId, state };
    return state;
  };

  const calibrated = (state: ClientState | undefined, estimated: number): number =>
    Math.max(0, Math.ceil(estimated * (state?.ratio ?? 1)));

  return {
    observe(clientId, answer) {
      const now = clock.now();
      const state = touch(clientId);
      const headers = answer.headers;
      if (headers) {
        let seen = false;
        for (const name of RATE_LIMIT_NAMES) {
          const view = readView(headers, name);
          if (view === undefined) continue;
          const current = state.views[name];
          if (name === 'requests' && current !== undefined) {
            // Requests are counted exactly, so within one window (the same reset) the lower of the two counts
            // is the truth: an answer does not count the requests still on their way to the API, and taking
            // its count alone would let that many too many through. Tokens are estimates: the answer wins.
            if (current.blind ? view.resetAt <= now : view.resetAt < current.resetAt) continue; // a late answer of an earlier window
            if (current.blind || view.resetAt === current.resetAt) {
              view.remaining = Math.min(view.remaining, current.remaining);
            }
          }
          state.views[name] = view;
          seen = true;
        }
        if (seen) state.generation += 1;
      }
      if (answer.status !== 429) return undefined;
      const { retryAfterMs } = readRetryAdvice(headers, () => now);
      const errorCode = answer.errorCode ?? undefined;
      const message = (answer.message ?? '').slice(0, MAX_MESSAGE_CHARS);
      const current = state.hold !== undefined && state.hold.until > now ? state.hold : undefined;
      if (isSpendLimitErrorCode(errorCode)) {
        const until = now + (retryAfterMs ?? spendLimitHoldMs);
        if (current?.reason === 'spend-limit' && current.until > until) return undefined;
        state.hold = { reason: 'spend-limit', until, errorCode, message };
        return { reason: 'spend-limit', until, errorCode };
      }
      if (retryAfterMs === undefined) return undefined;
      const until = now + retryAfterMs;
      if (current !== undefined && (current.reason === 'spend-limit' || current.until >= until)) return undefined;
      state.hold = { reason: 'paused', until, errorCode, message };
      return { reason: 'paused', until, errorCode };
    },

    check(clientId, request) {
      const state = clients.get(clientId);
      if (state === undefined) return OK;
      const now = request.now ?? clock.now();
      const hold = state.hold;
      if (hold !== undefined && hold.until <= now) state.hold = undefined;
      else if (hold?.reason === 'spend-limit') return holdVerdict(hold, now);

      const input = Math.max(1, calibrated(state, request.estimatedInputTokens));
      let worst: { name: RateLimitName; view: LimitView; until: number } | undefined;
      for (const name of RATE_LIMIT_NAMES) {
        const view = state.views[name];
        if (view === undefined) continue;
        const expired = view.resetAt <= now;
        if (expired && !view.blind) continue; // whole again
        const needed = name === 'requests' || name === 'output-tokens' ? 1 : input;
        if (needed + reserve[name] > view.limit) continue; // waiting would not make it fit
        if (view.remaining - needed >= reserve[name]) continue;
        // Spent blind after its reset: the next answer (soon: requests are in flight) tells when it comes back.
        const until = expired ? now + BLIND_RECHECK_MS : view.resetAt;
        if (worst === undefined || until > worst.until) worst = { name, view, until };
      }
      const paused = state.hold;
      if (paused !== undefined && (worst === undefined || paused.until >= worst.until)) {
        return holdVerdict(paused, now);
      }
      if (worst === undefined) return OK;
      const { name, view, until } = worst;
      const kept = reserve[name] > 0 ? `, ${reserve[name]} kept in reserve` : '';
      return {
        ok: false,
        reason: 'rate-limit',
        limit: name,
        errorCode: undefined,
        until,
        retryAfterMs: Math.max(1, until - now),
        message:
          `The Anthropic rate limit on ${LABEL[name]} for this API key is used up ` +
          `(${view.remaining} of ${view.limit} left${kept}) until ${iso(until)}`,
      };
    },

    estimate(clientId, estimatedInputTokens, options) {
      const state = clients.get(clientId);
      const estimated = Math.max(0, estimatedInputTokens);
      const debited = calibrated(state, estimated);
      if (state === undefined) return { clientId, estimated, debited, generation: -1 };
      if (options?.debit === false) return { clientId, estimated, debited, generation: state.generation };
      const now = clock.now();
      debit(state, 'requests', 1, now);
      debit(state, 'input-tokens', debited, now);
      debit(state, 'tokens', debited, now);
      return { clientId, estimated, debited, generation: state.generation };
    },

    reconcile(ticket, usage) {
      const state = clients.get(ticket.clientId);
      const input = usage?.input_tokens;
      if (state === undefined || typeof input !== 'number' || !Number.isFinite(input) || input < 0) return;
      if (ticket.estimated > 0) {
        const observed = Math.min(MAX_RATIO, Math.max(MIN_RATIO, input / ticket.estimated));
        state.ratio = state.ratio + RATIO_WEIGHT * (observed - state.ratio);
      }
      if (ticket.generation !== state.generation) return; // newer headers already hold the real count
      const output = usage?.output_tokens;
      const spent = typeof output === 'number' && Number.isFinite(output) && output > 0 ? output : 0;
      debit(state, 'input-tokens', input - ticket.debited);
      debit(state, 'output-tokens', spent);
      debit(state, 'tokens', input - ticket.debited + spent);
    },

    snapshot() {
      const now = clock.now();
      const views: ClientRateLimitView[] = [];
      for (const [clientId, state] of clients) {
        const limits: ClientRateLimitView['limits'] = {};
        for (const name of RATE_LIMIT_NAMES) {
          const view = state.views[name];
          if (view) limits[name] = { limit: view.limit, remaining: view.remaining, resetAt: iso(view.resetAt) };
        }
        const hold = state.hold !== undefined && state.hold.until > now ? state.hold : undefined;
        views.push({
          clientId,
          limits,
          hold: hold && {
            reason: hold.reason,
            until: iso(hold.until),
            errorCode: hold.errorCode,
            message: hold.message,
          },
          estimateRatio: state.ratio,
        });
      }
      return views;
    },

    shared(clientId) {
      const state = clients.get(clientId);
      if (state === undefined) return undefined;
      const now = clock.now();
      const limits: Partial<Record<RateLimitName, { limit: number; remaining: number; resetAt: number }>> = {};
      let any = false;
      for (const name of RATE_LIMIT_NAMES) {
        const view = state.views[name];
        if (view === undefined || view.resetAt <= now) continue;
        limits[name] = { limit: view.limit, remaining: view.remaining, resetAt: view.resetAt };
        any = true;
      }
      const hold = state.hold !== undefined && state.hold.until > now ? state.hold : undefined;
      if (hold === undefined && !any) return undefined;
      return {
        ...(hold && { hold: { reason: hold.reason, until: hold.until, errorCode: hold.errorCode } }),
        limits,
      };
    },

    adopt(clientId, shared) {
      const now = clock.now();
      let state = clients.get(clientId);
      let changed = false;
      const hold = shared.hold;
      if (hold !== undefined && hold.until > now) {
        state ??= touch(clientId);
        const current = state.hold !== undefined && state.hold.until > now ? state.hold : undefined;
        const stronger =
          current === undefined ||
          (hold.reason === 'spend-limit' && current.reason === 'paused') ||
          (hold.reason === current.reason && hold.until > current.until);
        if (stronger) {
          // The other replica's message stays there: its own wording (or the default) is shown here.
          const message = current?.reason === hold.reason ? current.message : '';
          state.hold = { reason: hold.reason, until: hold.until, errorCode: hold.errorCode, message };
          changed = true;
        }
      }
      for (const name of RATE_LIMIT_NAMES) {
        const view = shared.limits[name];
        if (view === undefined || view.resetAt <= now) continue;
        state ??= touch(clientId);
        const current = state.views[name];
        if (current === undefined || current.blind || view.resetAt > current.resetAt) {
          state.views[name] = {
            limit: view.limit,
            remaining: Math.min(view.remaining, view.limit),
            resetAt: view.resetAt,
            blind: false,
          };
          changed = true;
        } else if (view.resetAt === current.resetAt && view.remaining < current.remaining) {
          current.remaining = Math.max(0, view.remaining);
          changed = true;
        }
      }
      // Newer than any ticket taken before: their `usage` no longer corrects these views.
      if (changed && state !== undefined) state.generation += 1;
      return changed;
    },
  };
}

const OK: RateLimitVerdict = Object.freeze({ ok: true });

function holdVerdict(hold: Hold, now: number): RateLimitVerdict {
  const code = hold.errorCode === undefined ? '' : ` (${hold.errorCode})`;
  const message =
    hold.reason === 'spend-limit'
      ? `${hold.message || 'The organization reached its spend limit'}${code}; this API key is held until ${iso(hold.until)}`
      : `The Anthropic API answered 429 rate_limit_error${code}; this API key is paused until ${iso(hold.until)}`;
  return {
    ok: false,
    reason: hold.reason,
    limit: undefined,
    errorCode: hold.errorCode,
    until: hold.until,
    retryAfterMs: Math.max(1, hold.until - now),
    message,
  };
}

/** Takes `amount` from a view; sent after its reset (`now` given), from the whole limit, blind. */
function debit(state: ClientState, name: RateLimitName, amount: number, now?: number): void {
  const view = state.views[name];
  if (view === undefined) return;
  if (now !== undefined && view.resetAt <= now && !view.blind) {
    view.remaining = view.limit;
    view.blind = true;
  }
  view.remaining = Math.min(view.limit, Math.max(0, view.remaining - amount));
}

/** The three header names of each limit, built once: `readView` runs on every answer. */
const VIEW_HEADERS = {} as Record<RateLimitName, readonly [string, string, string]>;
for (const name of RATE_LIMIT_NAMES) {
  const prefix = `anthropic-ratelimit-${name}`;
  VIEW_HEADERS[name] = [`${prefix}-limit`, `${prefix}-remaining`, `${prefix}-reset`];
}

// `get` per header, not one `forEach`: an answer's Headers are new, and iterating them sorts them first,
// which costs more than the twelve lookups (Node 20, a 20-header answer).
function readView(headers: Headers, name: RateLimitName): LimitView | undefined {
  const [limitHeader, remainingHeader, resetHeader] = VIEW_HEADERS[name];
  // The limit first: an answer without this limit's headers (a proxy's, a fake's) costs one read, not three.
  const limit = headers.get(limitHeader)?.trim();
  if (limit === undefined) return undefined;
  const remaining = headers.get(remainingHeader)?.trim();
  const reset = headers.get(resetHeader)?.trim();
  if (remaining === undefined || reset === undefined) return undefined;
  if (!COUNT.test(limit) || !COUNT.test(remaining)) return undefined;
  const resetAt = resetTime(name, reset);
  if (Number.isNaN(resetAt)) return undefined;
  return { limit: Number(limit), remaining: Math.min(Number(remaining), Number(limit)), resetAt, blind: false };
}

/** Each limit's last reset header and its time: answers in one window repeat it, so it is parsed once per window. */
const LAST_RESET = {} as Record<RateLimitName, { text: string; at: number }>;
for (const name of RATE_LIMIT_NAMES) LAST_RESET[name] = { text: '', at: Number.NaN };

/** The reset header's time, or NaN when it is not an RFC 3339 time. */
function resetTime(name: RateLimitName, reset: string): number {
  const last = LAST_RESET[name];
  if (reset === last.text) return last.at;
  const at = RFC_3339.test(reset) ? Date.parse(reset) : Number.NaN;
  last.text = reset;
  last.at = at;
  return at;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

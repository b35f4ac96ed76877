import type { BreakerOptions } from './options.js';

/**
 * A breaker's state as clients of `/guard/status` see it.
 *
 * @example
 * ```ts
 * const open = guard.status().breakers.some((breaker) => breaker.state === 'open');
 * ```
 */
export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * What one bucket of the rolling window counts. A call counts (`fires` and its verdict) when it is
 * judged or refused, not when it starts: a call longer than the window would otherwise have its
 * fire rotated away before its failure, and a burst of such failures could never reach
 * `volumeThreshold`.
 *
 * @example
 * ```ts
 * const counts: BreakerCounts = { fires: 3, successes: 0, failures: 2, rejects: 1 };
 * ```
 */
// A type, not an interface: it is then a `Record<string, number>`, the shape the fleet sync counts in.
export type BreakerCounts = {
  fires: number;
  successes: number;
  failures: number;
  rejects: number;
};

/**
 * Everything one breaker knows, as a plain object of numbers and strings: it survives
 * `JSON.stringify`, so a later shared store (Redis) can hold it, read it, run the same transition
 * functions on it and write it back (compare-and-set). Nothing in it is a timer, a promise or a
 * closure; time enters only as the `now` each function is given.
 *
 * @example
 * ```ts
 * const state = initialBreakerState(clock.now(), rules);
 * const copy: BreakerMachineState = JSON.parse(JSON.stringify(state));
 * ```
 */
export interface BreakerMachineState {
  /** The state as last written; `open` may be due for half-open: {@link advanceBreaker} moves it. */
  state: BreakerState;
  /** When it last opened (the clock's milliseconds); half-open is due `resetTimeout` later. */
  openedAt: number;
  /** The half-open trial in flight (its id), or 0 when the slot is free. */
  trial: number;
  /** The last trial id handed out: ids are never reused, so a late verdict cannot take another trial's slot. */
  trials: number;
  /** The rolling window's newest bucket, as `Math.floor(now / bucketMs)`. */
  bucket: number;
  /** The rolling window, oldest bucket first, newest (the one being counted into) last. */
  window: BreakerCounts[];
  /** Calls that said nothing about upstream health, since the breaker was created (not windowed). */
  neutral: number;
}

/**
 * The options the transition functions read: today's breaker options, under the same names.
 *
 * @example
 * ```ts
 * const rules: BreakerRules = { ...DEFAULTS.breaker };
 * ```
 */
export type BreakerRules = Pick<
  Required<BreakerOptions>,
  | 'errorThresholdPercentage'
  | 'volumeThreshold'
  | 'rollingCountTimeout'
  | 'rollingCountBuckets'
  | 'resetTimeout'
  | 'minTrialBudgetMs'
>;

/**
 * What a breaker answers a call that asks to run: `run` (closed: an ordinary call), `trial`
 * (half-open: this call is the trial, its id is `state.trial`), `reject` (open, or the trial slot is taken: a fire and a reject), `refuse`
 * (half-open with the slot free, but the call's budget is below `minTrialBudgetMs`: a reject only,
 * it never reached the breaker's fire).
 *
 * @example
 * ```ts
 * if (admitToBreaker(state, budgetMs, rules) === 'trial') trialId = state.trial;
 * ```
 */
export type BreakerAdmission = 'run' | 'trial' | 'reject' | 'refuse';

/**
 * A judged call's verdict: upstream health (`success`), ill health (`failure`), or nothing either
 * way (`neutral`: the client left, the caller's own short deadline).
 *
 * @example
 * ```ts
 * settleInBreaker(state, 'neutral', trialId, rules);
 * ```
 */
export type BreakerVerdict = 'success' | 'failure' | 'neutral';

/** The transitions a function reports, for the caller to turn into events. */
export type BreakerTransition = 'open' | 'half-open' | 'close';

const emptyCounts = (): BreakerCounts => ({ fires: 0, successes: 0, failures: 0, rejects: 0 });

/** The bucket being counted into: the window's last. */
function newest(state: BreakerMachineState): BreakerCounts {
  const counts = state.window[state.window.length - 1];
  if (counts === undefined) throw new RangeError('a breaker window holds at least one bucket');
  return counts;
}

const bucketMs = (rules: BreakerRules): number => rules.rollingCountTimeout / rules.rollingCountBuckets;

/**
 * A closed breaker with an empty window.
 *
 * @example
 * ```ts
 * const state = initialBreakerState(Date.now(), { ...DEFAULTS.breaker });
 * state.state; // 'closed'
 * ```
 */
export function initialBreakerState(now: number, rules: BreakerRules): BreakerMachineState {
  return {
    state: 'closed',
    openedAt: 0,
    trial: 0,
    trials: 0,
    bucket: Math.floor(now / bucketMs(rules)),
    window: Array.from({ length: rules.rollingCountBuckets }, emptyCounts),
    neutral: 0,
  };
}

/**
 * Brings `state` up to `now`, with no timer: rotates away the buckets that have left the window
 * and, when an open breaker has waited `resetTimeout`, makes it half-open with a free trial slot
 * (and returns `'half-open'`). Every other function here assumes it has just been called with the
 * same `now`. Buckets are aligned on multiples of the bucket length since the clock's zero, so all
 * breakers of one bucket length (and all processes sharing one) rotate together.
 *
 * @example
 * ```ts
 * if (advanceBreaker(state, clock.now(), rules) === 'half-open') events.emit({ type: 'breaker-half-open', key });
 * ```
 */
export function advanceBreaker(state: BreakerMachineState, now: number, rules: BreakerRules): 'half-open' | undefined {
  const bucket = Math.floor(now / bucketMs(rules));
  // A clock that steps back rotates nothing: buckets only ever move forward.
  if (bucket > state.bucket) {
    const window = state.window;
    const due = Math.min(bucket - state.bucket, window.length);
    for (let i = 0; i < due; i++) {
      window.shift();
      window.push(emptyCounts());
    }
    state.bucket = bucket;
  }
  if (state.state === 'open' && now >= state.openedAt + rules.resetTimeout) {
    state.state = 'half-open';
    state.trial = 0;
    return 'half-open';
  }
  return undefined;
}

/**
 * Decides whether a call may run, and counts a refusal. Closed: `run`. Open: `reject`. Half-open:
 * the first call with at least `minTrialBudgetMs` left takes the trial slot (`trial`; its id is
 * now `state.trial`); with the slot free, a call with less is `refuse`d, so it cannot take the trial
 * only to end neutral; with the slot taken, every call is `reject`ed. `budgetMs` is the time the
 * call's request has left (`Infinity` when none is known).
 *
 * @example
 * ```ts
 * advanceBreaker(state, now, rules);
 * const admission = admitToBreaker(state, deadline.remaining(), rules);
 * ```
 */
export function admitToBreaker(state: BreakerMachineState, budgetMs: number, rules: BreakerRules): BreakerAdmission {
  if (state.state === 'closed') return 'run';
  const counts = newest(state);
  if (state.state === 'half-open' && state.trial === 0) {
    if (budgetMs < rules.minTrialBudgetMs) {
      counts.rejects += 1;
      return 'refuse';
    }
    state.trials += 1;
    state.trial = state.trials;
    return 'trial';
  }
  counts.fires += 1;
  counts.rejects += 1;
  return 'reject';
}

/**
 * Counts a judged call and moves the breaker. `trial` is the id the call got from
 * {@link admitToBreaker} (0 when it was not the trial). A success closes a half-open breaker; a
 * failure opens a closed one when the window holds at least `volumeThreshold` calls and more than
 * `errorThresholdPercentage` of them failed (with `elsewhere`, the window's counts of the other
 * replicas of a fleet, added to its own), and re-opens a half-open one at once, for another
 * `resetTimeout` (whichever call it came from: any word from the upstream is news). A neutral
 * verdict moves nothing, but a neutral trial hands its slot to the next call, so a client whose
 * own short deadlines end every trial cannot keep the breaker from closing.
 *
 * @example
 * ```ts
 * advanceBreaker(state, now, rules);
 * const moved = settleInBreaker(state, 'failure', trialId, now, rules); // 'open' | 'close' | undefined
 * ```
 */
export function settleInBreaker(
  state: BreakerMachineState,
  verdict: BreakerVerdict,
  trial: number,
  now: number,
  rules: BreakerRules,
  elsewhere?: Readonly<BreakerCounts>,
): 'open' | 'close' | undefined {
  const counts = newest(state);
  counts.fires += 1;
  if (verdict === 'neutral') {
    state.neutral += 1;
    // Still ours only when nothing moved since the trial began: a transition frees the slot itself.
    if (trial !== 0 && state.trial === trial) state.trial = 0;
    return undefined;
  }
  if (verdict === 'success') {
    counts.successes += 1;
    if (state.state !== 'half-open') return undefined;
    state.state = 'closed';
    state.trial = 0;
    return 'close';
  }
  counts.failures += 1;
  if (state.state === 'open') return undefined;
  if (state.state === 'closed') {
    const totals = breakerCounts(state);
    if (elsewhere !== undefined) {
      totals.fires += elsewhere.fires;
      totals.failures += elsewhere.failures;
    }
    if (totals.fires < rules.volumeThreshold) return undefined;
    if ((totals.failures / totals.fires) * 100 <= rules.errorThresholdPercentage) return undefined;
  }
  state.state = 'open';
  state.openedAt = now;
  state.trial = 0;
  return 'open';
}

/**
 * The window's counts, summed over its buckets.
 *
 * @example
 * ```ts
 * advanceBreaker(state, clock.now(), rules);
 * const { fires, failures } = breakerCounts(state);
 * ```
 */
export function breakerCounts(state: BreakerMachineState): BreakerCounts {
  const totals = emptyCounts();
  for (const counts of state.window) {
    totals.fires += counts.fires;
    totals.successes += counts.successes;
    totals.failures += counts.failures;
    totals.rejects += counts.rejects;
  }
  return totals;
}

/**
 * Milliseconds until a trial is let through: the rest of `resetTimeout` when open, 1 000 when
 * half-open (a trial is running or about to: the answer is near), 0 when closed.
 *
 * @example
 * ```ts
 * advanceBreaker(state, now, rules);
 * response.headers.set('retry-after', String(Math.ceil(breakerRetryAfterMs(state, now, rules) / 1000)));
 * ```
 */
export function breakerRetryAfterMs(state: BreakerMachineState, now: number, rules: BreakerRules): number {
  if (state.state === 'open') return Math.max(0, state.openedAt + rules.resetTimeout - now);
  return state.state === 'half-open' ? 1_000 : 0;
}

/**
 * Opens the breaker as of `openedAt` (another replica's opening, learnt from a shared store), when
 * that is later than its own last opening; returns `'open'` when it moved. Its own window is kept.
 *
 * @example
 * ```ts
 * if (openBreakerAt(state, hint.openedAt) === 'open') events.emit({ type: 'breaker-open', key });
 * ```
 */
export function openBreakerAt(state: BreakerMachineState, openedAt: number): 'open' | undefined {
  if (openedAt <= state.openedAt) return undefined;
  const moved = state.state !== 'open';
  state.state = 'open';
  state.openedAt = openedAt;
  state.trial = 0;
  return moved ? 'open' : undefined;
}

/**
 * Closes an open or half-open breaker that last opened no later than `openedAt` (another replica's
 * trial succeeded after that opening); returns `'close'` when it moved.
 *
 * @example
 * ```ts
 * if (closeBreakerAfter(state, hint.openedAt) === 'close') events.emit({ type: 'breaker-close', key });
 * ```
 */
export function closeBreakerAfter(state: BreakerMachineState, openedAt: number): 'close' | undefined {
  if (state.state === 'closed' || state.openedAt > openedAt) return undefined;
  state.state = 'closed';
  state.trial = 0;
  return 'close';
}

/**
 * Gives back the trial slot `trial` took, counting the call as a reject: the fleet's one trial is
 * another replica's.
 *
 * @example
 * ```ts
 * if (!(await leaseTaken)) denyTrial(state, trialId);
 * ```
 */
export function denyTrial(state: BreakerMachineState, trial: number): void {
  if (state.trial === trial) state.trial = 0;
  const counts = newest(state);
  counts.fires += 1;
  counts.rejects += 1;
}

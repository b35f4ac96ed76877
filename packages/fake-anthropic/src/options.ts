import type { Fault, FaultInput } from './fault.js';
import { normalizeFault } from './fault.js';
import type { RateLimitBudget, ResolvedRateLimits } from './rate-limit-budget.js';
import { DEFAULT_RATE_LIMITS, resolveRateLimits } from './rate-limit-budget.js';
import type { RequestRecord } from './request-record.js';

/**
 * The behaviour `setDefault()` can change while the server runs.
 *
 * @example
 * ```ts
 * const behaviour: FakeAnthropicBehaviour = { faultRate: 0.2, fault: 529, seed: 7 };
 * fake.setDefault(behaviour);
 * ```
 */
export type FakeAnthropicBehaviour = {
  /** Words in each reply (capped by the request's `max_tokens`). Default 12. */
  readonly replyWords?: number | undefined;
  /** Milliseconds between the SSE headers and `message_start` (non-streaming: added before headers). Default 0. */
  readonly firstEventDelayMs?: number | undefined;
  /**
   * A long-tailed first-event delay: each request's delay is drawn from these weighted choices (a
   * weight is a share of the total), in place of `firstEventDelayMs`; e.g. 97 % at 50 ms and 3 % at
   * 2 s is `[{ ms: 50, weight: 97 }, { ms: 2000, weight: 3 }]`. Drawn with the `random` option. `[]`
   * turns it off. Default: none.
   */
  readonly firstEventDelays?: readonly FirstEventDelayChoice[] | undefined;
  /** Milliseconds between `content_block_delta` events (non-streaming: per word, before headers). Default 0. */
  readonly tokenDelayMs?: number | undefined;
  /** Probability in [0, 1] that a request without header or queued fault gets `fault`. Default 0. */
  readonly faultRate?: number | undefined;
  /** The fault, or faults picked uniformly, used by `faultRate`. Default 529 (overloaded). */
  readonly fault?: FaultInput | readonly FaultInput[] | undefined;
  /** Seed of the generator behind `faultRate`; setting it restarts the sequence. Default 1. */
  readonly seed?: number | undefined;
  /**
   * A scripted rate-limit budget per window; each count that is set is enforced with 429s. Setting it
   * (even to the same value) starts a fresh window. `{}` enforces nothing. Default `{}`.
   */
  readonly rateLimits?: RateLimitBudget | undefined;
};

/**
 * One weighted choice of `firstEventDelays`.
 *
 * @example
 * ```ts
 * const tail: FirstEventDelayChoice = { ms: 2000, weight: 3 };
 * ```
 */
export type FirstEventDelayChoice = { readonly ms: number; readonly weight: number };

/**
 * Options of `createFakeAnthropic()`: the behaviour plus what is fixed at start.
 *
 * @example
 * ```ts
 * const fake = await createFakeAnthropic({ port: 0, replyWords: 5, apiKeys: ['test-key'] });
 * ```
 */
export type FakeAnthropicOptions = FakeAnthropicBehaviour & {
  /** Interface to listen on. Default `127.0.0.1`. */
  readonly host?: string | undefined;
  /** Port; 0 picks a free one. Default 0. */
  readonly port?: number | undefined;
  /** Clock for the request log, in milliseconds. Default `performance.now()`. */
  readonly now?: (() => number) | undefined;
  /** Wall clock (ms since the epoch) for rate-limit windows and `reset` times. Default `Date.now`. */
  readonly wallClock?: (() => number) | undefined;
  /** When set, only these keys are accepted (others get 401). Default: any non-empty key. */
  readonly apiKeys?: readonly string[] | undefined;
  /** Called once per request when its outcome is settled. */
  readonly onRequestEnd?: ((record: RequestRecord) => void) | undefined;
  /** Numbers in [0, 1) that draw `firstEventDelays`. Default: a generator seeded from `seed`. */
  readonly random?: (() => number) | undefined;
};

/**
 * Behaviour with every default applied and faults normalized; `undefined` in `faults` means "no fault".
 *
 * @example
 * ```ts
 * const resolved: ResolvedBehaviour = resolveBehaviour(DEFAULT_BEHAVIOUR, { replyWords: 3 }, 'options');
 * ```
 */
export type ResolvedBehaviour = {
  readonly replyWords: number;
  readonly firstEventDelayMs: number;
  readonly firstEventDelays: readonly FirstEventDelayChoice[] | undefined;
  readonly tokenDelayMs: number;
  readonly faultRate: number;
  readonly faults: readonly (Fault | undefined)[];
  readonly seed: number;
  readonly rateLimits: ResolvedRateLimits;
};

/**
 * The defaults, as documented in the README.
 *
 * @example
 * ```ts
 * DEFAULT_BEHAVIOUR.replyWords; // 12
 * ```
 */
export const DEFAULT_BEHAVIOUR: ResolvedBehaviour = {
  replyWords: 12,
  firstEventDelayMs: 0,
  firstEventDelays: undefined,
  tokenDelayMs: 0,
  faultRate: 0,
  faults: [{ kind: 'status', status: 529 }],
  seed: 1,
  rateLimits: DEFAULT_RATE_LIMITS,
};

const BEHAVIOUR_KEYS = [
  'replyWords',
  'firstEventDelayMs',
  'firstEventDelays',
  'tokenDelayMs',
  'faultRate',
  'fault',
  'seed',
  'rateLimits',
];

/**
 * Applies `partial` over `base`, validating every given value; errors name the option.
 *
 * @param base - the current behaviour
 * @param partial - the changes (keys with `undefined` keep the base value)
 * @param where - the caller's name for error messages, e.g. `setDefault()`
 * @returns the new behaviour
 * @example
 * ```ts
 * resolveBehaviour(DEFAULT_BEHAVIOUR, { faultRate: 2 }, 'setDefault()');
 * // throws RangeError: setDefault(): `faultRate` must be a number from 0 to 1, got 2
 * ```
 */
export function resolveBehaviour(
  base: ResolvedBehaviour,
  partial: FakeAnthropicBehaviour,
  where: string,
): ResolvedBehaviour {
  if (typeof partial !== 'object' || partial === null) throw new TypeError(`${where}: expected an options object`);
  for (const key of Object.keys(partial)) {
    if (!BEHAVIOUR_KEYS.includes(key)) throw new TypeError(`${where}: unknown option \`${key}\``);
  }
  const { replyWords, firstEventDelayMs, firstEventDelays, tokenDelayMs, faultRate, fault, seed, rateLimits } = partial;
  const delays = firstEventDelays === undefined ? base.firstEventDelays : resolveDelays(firstEventDelays, where);
  if (replyWords !== undefined && !(Number.isInteger(replyWords) && replyWords >= 1)) {
    throw new RangeError(`${where}: \`replyWords\` must be a positive integer, got ${String(replyWords)}`);
  }
  for (const [name, value] of [
    ['firstEventDelayMs', firstEventDelayMs],
    ['tokenDelayMs', tokenDelayMs],
  ] as const) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`${where}: \`${name}\` must be a number of milliseconds >= 0, got ${String(value)}`);
    }
  }
  if (faultRate !== undefined && !(typeof faultRate === 'number' && faultRate >= 0 && faultRate <= 1)) {
    throw new RangeError(`${where}: \`faultRate\` must be a number from 0 to 1, got ${String(faultRate)}`);
  }
  if (seed !== undefined && !Number.isFinite(seed)) {
    throw new RangeError(`${where}: \`seed\` must be a finite number, got ${String(seed)}`);
  }
  let faults = base.faults;
  if (fault !== undefined) {
    const list: readonly unknown[] = Array.isArray(fault) ? fault : [fault];
    if (list.length === 0) throw new RangeError(`${where}: \`fault\` must not be an empty list`);
    faults = list.map((f, i) => normalizeFault(f, `${where}: \`fault\`${Array.isArray(fault) ? `[${i}]` : ''}`));
  }
  return {
    replyWords: replyWords ?? base.replyWords,
    firstEventDelayMs: firstEventDelayMs ?? base.firstEventDelayMs,
    firstEventDelays: delays,
    tokenDelayMs: tokenDelayMs ?? base.tokenDelayMs,
    faultRate: faultRate ?? base.faultRate,
    faults,
    seed: seed ?? base.seed,
    rateLimits: rateLimits === undefined ? base.rateLimits : resolveRateLimits(rateLimits, `${where}: rateLimits`),
  };
}

function resolveDelays(value: unknown, where: string): readonly FirstEventDelayChoice[] | undefined {
  const bad = (): never => {
    throw new RangeError(
      `${where}: \`firstEventDelays\` must be a list of { ms >= 0, weight > 0 }, got ${JSON.stringify(value)}`,
    );
  };
  if (!Array.isArray(value)) return bad();
  if (value.length === 0) return undefined;
  return value.map((choice: unknown) => {
    const { ms, weight } = (choice ?? {}) as { ms?: unknown; weight?: unknown };
    if (typeof ms !== 'number' || !(Number.isFinite(ms) && ms >= 0)) return bad();
    if (typeof weight !== 'number' || !(Number.isFinite(weight) && weight > 0)) return bad();
    return { ms, weight };
  });
}

/**
 * Picks one delay of `choices` with `random()` (in [0, 1)), by weight.
 *
 * @param choices - the weighted delays
 * @param random - the random source
 * @returns milliseconds
 * @example
 * ```ts
 * drawDelay([{ ms: 50, weight: 9 }, { ms: 2000, weight: 1 }], () => 0.95); // 2000
 * ```
 */
export function drawDelay(choices: readonly FirstEventDelayChoice[], random: () => number): number {
  let total = 0;
  for (const choice of choices) total += choice.weight;
  let point = random() * total;
  for (const choice of choices) {
    if (point < choice.weight) return choice.ms;
    point -= choice.weight;
  }
  return choices[choices.length - 1]!.ms;
}

/**
 * Server options with defaults applied.
 *
 * @example
 * ```ts
 * const config: ResolvedOptions = resolveOptions({ port: 4010 });
 * ```
 */
export type ResolvedOptions = {
  readonly host: string;
  readonly port: number;
  readonly now: () => number;
  readonly wallClock: () => number;
  readonly apiKeys: ReadonlySet<string> | undefined;
  readonly onRequestEnd: ((record: RequestRecord) => void) | undefined;
  readonly random: (() => number) | undefined;
  readonly behaviour: ResolvedBehaviour;
};

/**
 * Validates `createFakeAnthropic()` options once and applies the defaults.
 *
 * @param options - the caller's options
 * @returns the resolved configuration
 * @example
 * ```ts
 * resolveOptions({}).host; // '127.0.0.1'
 * ```
 */
export function resolveOptions(options: FakeAnthropicOptions = {}): ResolvedOptions {
  const where = 'createFakeAnthropic()';
  const { host, port, now, wallClock, apiKeys, onRequestEnd, random, ...behaviour } = options;
  if (random !== undefined && typeof random !== 'function')
    throw new TypeError(`${where}: \`random\` must be a function`);
  if (host !== undefined && (typeof host !== 'string' || host === '')) {
    throw new TypeError(`${where}: \`host\` must be a non-empty string`);
  }
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new RangeError(`${where}: \`port\` must be an integer from 0 to 65535, got ${String(port)}`);
  }
  if (now !== undefined && typeof now !== 'function') throw new TypeError(`${where}: \`now\` must be a function`);
  if (wallClock !== undefined && typeof wallClock !== 'function') {
    throw new TypeError(`${where}: \`wallClock\` must be a function`);
  }
  if (onRequestEnd !== undefined && typeof onRequestEnd !== 'function') {
    throw new TypeError(`${where}: \`onRequestEnd\` must be a function`);
  }
  if (apiKeys !== undefined && (!Array.isArray(apiKeys) || apiKeys.some((k) => typeof k !== 'string' || k === ''))) {
    throw new TypeError(`${where}: \`apiKeys\` must be a list of non-empty strings`);
  }
  return {
    host: host ?? '127.0.0.1',
    port: port ?? 0,
    now: now ?? (() => performance.now()),
    wallClock: wallClock ?? Date.now,
    apiKeys: apiKeys === undefined ? undefined : new Set(apiKeys),
    onRequestEnd,
    random,
    behaviour: resolveBehaviour(DEFAULT_BEHAVIOUR, behaviour, where),
  };
}

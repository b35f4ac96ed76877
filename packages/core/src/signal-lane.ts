import type { ClaudeClient, ClaudeRequestOptions } from './claude-client.js';
import { keepSignal } from './signal-pool.js';

// Given a `signal`, the Anthropic SDK links it to the request's own `AbortController` per call: an
// `abort` listener, a cleanup closure in a `WeakMap`, a `FinalizationRegistry` entry, all undone
// when the body settles: 6 to 9 us of CPU per call on Node 20, a third of what the guard added.
// The guard's own attempts need none of it: their signal can go to the fetch itself, which is what
// the SDK's link was for. So the guard sends through a copy of its client (`withOptions`) whose
// fetch takes the attempt's signal from the request options, under a key nobody else uses.
//
// Only for a client whose requests reach the fetch as the SDK built them: no middleware (a
// middleware may build a new `init` without the key, and the call would then ignore the deadline).
// Any other client, and a call whose caller brings a signal or `fetchOptions` of its own, gets the
// signal through the SDK's `signal` option, as before.
//
// What the SDK no longer sees is only the link: an attempt's signal aborts with the deadline (or a
// hedge's lost leg), and the retry policy classifies such an abort by the deadline and its own
// reasons, never by the SDK's error class.

const ATTEMPT_SIGNAL = Symbol('claude-guard.attempt-signal');

/** The SDK's `fetchOptions`, here carrying only the attempt's signal under the lane's key. */
type LaneOptions = NonNullable<ClaudeRequestOptions['fetchOptions']>;

type Fetch = (input: unknown, init?: Record<PropertyKey, unknown>) => Promise<Response>;

/** What the lane reads of a client: the SDK's `BaseAnthropic`, duck-typed (any SDK copy). */
interface SdkClientParts {
  withOptions?: unknown;
  fetch?: unknown;
  middleware?: unknown;
  backendMiddleware?: unknown;
}

/** The copies made by {@link signalLane}: their fetch takes the attempt's signal from the options. */
const laned = new WeakSet<ClaudeClient>();

/**
 * A copy of `client` whose fetch takes each guarded attempt's signal directly (see the top of this
 * file), or `client` itself when that cannot be done safely (not the SDK's client, or one with
 * middleware). {@link attemptOptions} recognizes the copy.
 *
 * @param client - The guard's client.
 * @returns The client the guard sends through, and whether it is a laned copy.
 *
 * @example
 * ```ts
 * const { client } = signalLane(config.client);
 * ```
 */
export function signalLane(client: ClaudeClient): { client: ClaudeClient; laned: boolean } {
  const parts = client as ClaudeClient & SdkClientParts;
  const { withOptions, fetch, middleware, backendMiddleware } = parts;
  if (typeof withOptions !== 'function' || typeof fetch !== 'function') return { client, laned: false };
  if (!Array.isArray(middleware) || middleware.length > 0) return { client, laned: false };
  if (typeof backendMiddleware === 'function') {
    const backend: unknown = (backendMiddleware as () => unknown).call(client);
    if (!Array.isArray(backend) || backend.length > 0) return { client, laned: false };
  }
  const base = fetch as Fetch;
  const laneFetch: Fetch = (input, init) => {
    const signal = init?.[ATTEMPT_SIGNAL];
    // `init` is the SDK's own per-request object: setting its signal touches nobody else's.
    if (signal !== undefined) init!.signal = signal;
    return base(input, init);
  };
  const copy = (withOptions as (options: { fetch: Fetch }) => ClaudeClient).call(client, { fetch: laneFetch });
  laned.add(copy);
  return { client: copy, laned: true };
}

/**
 * The SDK request options of one guarded attempt: the caller's own, the attempt's `signal` and
 * `timeout`, and `maxRetries: 0` (the guard owns retries). On a laned client the signal rides in
 * `fetchOptions` to the fetch. A caller's own signal is combined with the attempt's and given as
 * `signal`, so that the SDK still names its abort (`APIUserAbortError`, never retried); a caller's
 * own `fetchOptions`, or a client that is not laned, also gets the signal through `signal`.
 *
 * @param client - The client the attempt is sent through.
 * @param signal - The attempt's signal.
 * @param timeout - The attempt's timeout (ms).
 * @param options - The caller's own request options, if any.
 * @returns The options for `messages.create`.
 *
 * @example
 * ```ts
 * const pending = client.messages.create(params, attemptOptions(client, context.signal, context.timeout, undefined));
 * ```
 */
export function attemptOptions(
  client: ClaudeClient,
  signal: AbortSignal,
  timeout: number,
  options: ClaudeRequestOptions | undefined,
): ClaudeRequestOptions {
  if (options === undefined) {
    return laned.has(client)
      ? { fetchOptions: { [ATTEMPT_SIGNAL]: signal } as LaneOptions, timeout, maxRetries: 0 }
      : { signal, timeout, maxRetries: 0 };
  }
  if (options.signal) {
    keepSignal(signal); // the composite links to it: its controller is not reused
    return { ...options, signal: AbortSignal.any([signal, options.signal]), timeout, maxRetries: 0 };
  }
  if (options.fetchOptions === undefined && laned.has(client)) {
    const fetchOptions = { [ATTEMPT_SIGNAL]: signal } as LaneOptions;
    return { ...options, fetchOptions, timeout, maxRetries: 0 };
  }
  return { ...options, signal, timeout, maxRetries: 0 };
}

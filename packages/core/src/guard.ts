import { VERSION as SDK_VERSION } from '@anthropic-ai/sdk/version';
import { AdmissionRegistry, type AdmissionStatus, type PublicAdmissionStatus } from './admission.js';
import { clientIdOf } from './client-id.js';
import type { Lane } from './concurrency-limiter.js';
import { BreakerRegistry, type BreakerSnapshot, type PublicBreakerStatus } from './breaker-registry.js';
import { FleetRetryBudget } from './fleet-retry-budget.js';
import { FleetSync } from './fleet-sync.js';
import { GuardEvents, type GuardEventListener } from './events.js';
import { ClaudeGuardError, isClaudeGuardError } from './guard-error.js';
import type { BeginInput, BeginResult, HeaderReader } from './guarded-call.js';
import { beginRequest, type GuardedRequest } from './guarded-request.js';
import { LogWriter } from './logger.js';
import {
  MountedRoutes,
  normalizeGuardOptions,
  normalizeRouteOptions,
  DEFAULTS,
  type ClaudeGuardOptions,
  type GuardConfig,
  type RouteOptions,
} from './options.js';
import { handleProxy } from './proxy.js';
import { createRequestIdGenerator, isValidRequestId, resolveRequestId } from './request-id.js';
import { errorResponse } from './response.js';
import type { AttemptContext } from './retry-loop.js';
import { createRetryBudget, type RetryBudget } from './retry-budget.js';
import { createRouteRuntime, type GuardRuntime, type RouteRuntime } from './route-runtime.js';
import { describeError } from './describe-error.js';
import { createAsyncContext } from './async-context.js';
import { claudeGuardErrorOf } from './guard-error-of.js';
import type { GuardedCall } from './guarded-call.js';
import type { Middleware } from '@anthropic-ai/sdk';
import { createSdkMiddleware, type CallContext } from './sdk-middleware.js';
import { signalLane } from './signal-lane.js';

/**
 * Every breaker's state, counts, options and exact timing: for your own monitoring, behind your
 * own access control. Serve {@link PublicGuardStatus} to anyone else.
 *
 * @example
 * ```ts
 * metrics.gauge('breaker.open', guard.status().breakers.filter((b) => b.state === 'open').length);
 * ```
 */
export interface GuardStatus {
  breakers: BreakerSnapshot[];
  /** Concurrency queues (slots held, waiters per lane) and each client's last rate-limit view and hold. */
  admission: AdmissionStatus;
  /**
   * The shared store: `shared` when one was given (fleet mode), `connected` unless its last command
   * failed or was slow (breakers then use local state alone). Always connected without one.
   */
  store: { shared: boolean; connected: boolean };
}

/**
 * `GET /guard/status` material safe for anyone: each breaker's key, state and a wait in whole seconds.
 *
 * @example
 * ```ts
 * res.json(guard.publicStatus()); // { breakers: [{ key: 'chat', state: 'closed', retryAfterSeconds: 0 }] }
 * ```
 */
export interface PublicGuardStatus {
  breakers: PublicBreakerStatus[];
  /** Queue counts, and per client (a hash of its key) its remaining limits and any hold's wait. */
  admission: PublicAdmissionStatus;
}

/**
 * One mounted route: options normalized once, its breaker looked up once.
 *
 * @example
 * ```ts
 * const route = guard.route({ route: 'proxy' });
 * export default { fetch: (request: Request) => route.proxy(request) };
 * ```
 */
export interface GuardedRoute {
  readonly name: string;
  /** Starts a guarded request (reads the deadline headers and the request id). */
  begin(input: BeginInput): BeginResult;
  /** The Anthropic-compatible passthrough for `POST /v1/messages`, in Web terms. */
  proxy(request: Request): Promise<Response>;
}

/**
 * Options of {@link ClaudeGuard.run}.
 *
 * @example
 * ```ts
 * await guard.run('report', fn, { headers: request.headers, signal: request.signal });
 * ```
 */
export interface RunOptions {
  /** Incoming headers, for the caller's deadline and request id. */
  headers?: HeaderReader;
  /** Aborts when the caller goes away. */
  signal?: AbortSignal;
  /**
   * This call's own budget, in place of the route's `deadline.defaultMs`: a background job's
   * deadline without a route of its own. At most the route's `deadline.maxMs`; less
   * `deadline.reserveMs`, as every budget; a caller's deadline header in `headers` still wins, as
   * it does over `defaultMs`.
   */
  deadlineMs?: number;
  /** This call's queue lane when the route has a concurrency limit. Default: the route's `concurrency.lane`. */
  lane?: Lane;
}

/**
 * The guard: shared breakers, retry budget and events for all routes of one app.
 *
 * @example
 * ```ts
 * const guard = createClaudeGuard({ client: new Anthropic() });
 * const text = await guard.run('nightly-report', ({ signal, timeout }) =>
 *   client.messages.create(params, { signal, timeout, maxRetries: 0 }));
 * ```
 */
export interface ClaudeGuard {
  /** Normalizes a route's options once; mount the result through an adapter. */
  route(options: RouteOptions): GuardedRoute;
  /** Runs any Claude call under a route's deadline, retries and breaker (routes by name are created with defaults). */
  run<T>(route: string | GuardedRoute, fn: (attempt: AttemptContext) => Promise<T>, options?: RunOptions): Promise<T>;
  /**
   * Answers an error caught outside a guarded call (a body parser's, a plain route's) the way the
   * guard's routes do: a {@link ClaudeGuardError} with its status and message, anything else a 500
   * `api_error` that reveals nothing. The request id is the one the error was tagged with by the
   * request it ended, else the caller's valid id read from the configured `requestIdHeader`, else
   * a fresh one; it is sent under that header and as the body's `request_id`. The adapters' error
   * handlers use it.
   *
   * @example
   * ```ts
   * app.onError((error, c) => guard.errorResponse(error, c.req.raw.headers));
   * ```
   */
  errorResponse(error: unknown, headers?: HeaderReader): Response;
  /**
   * Logs an error that is not the guard's and that was answered with the sanitized 500 (a bug in a
   * handler, a library's `TypeError`): once per error object however many handlers see it, at error
   * level (`logger.error`, else `warn`, else `info`), with its name, message and stack, the guard's API
   * key and anything shaped like an Anthropic key redacted. `context` ties it to the request's log
   * line. Nothing of it reaches the client. {@link ClaudeGuard.errorResponse} calls it for such errors,
   * and so do the adapters' error handlers and guarded routes.
   *
   * @example
   * ```ts
   * app.onError((error, c) => {
   *   guard.reportError(error, { route: 'chat' }); // { route, requestId, err: { type, message, stack } }
   *   return c.text('Internal Server Error', 500);
   * });
   * ```
   */
  reportError(error: unknown, context?: { route?: string; requestId?: string }): void;
  /**
   * An SDK middleware that runs every call of a client built with it under the guard, as one
   * guarded request of `options.route`: the deadline, the retry policy (the SDK's own retries are
   * vetoed: every error the middleware answers carries `x-should-retry: false`), the retry budget
   * and the breaker; streams (`messages.stream`, `stream: true`) get the first-event and idle
   * timeouts, in-band error detection and the breaker's verdict at their first event, and the SDK
   * still parses them. Inside a route mounted with `claudeGuard()` a call takes that request's
   * deadline, disconnect and request id; elsewhere the route's defaults, or
   * {@link ClaudeGuard.withContext}'s. A call may name another route: a per-request
   * `{ middleware: [guard.middleware({ route })] }` (which the client-wide one then leaves it to),
   * or the header `x-claude-guard-route` (removed before sending). The guard gives up with the
   * SDK's own `APIError` (status 504 for a spent deadline, 503 for an open breaker, ...), whose
   * guard error {@link claudeGuardErrorOf} finds and the adapters' error handlers answer with. A
   * route named by a string is looked up at the first call: mount it (with `claudeGuard()`) before.
   *
   * @example
   * ```ts
   * const client = new Anthropic({ middleware: [guard.middleware({ route: 'summarize' })], maxRetries: 0 });
   * await client.messages.create(params); // deadline, retries, breaker: the guard's
   * ```
   */
  middleware(options: MiddlewareOptions): Middleware;
  /**
   * Runs `fn` with an explicit context for the calls of `guard.middleware()` clients it makes (a
   * queue worker's job, a cron run): their deadline (`deadlineMs` from now, never later than an
   * enclosing context's), a `signal` that aborts them, a `requestId` for their log lines.
   *
   * @example
   * ```ts
   * await guard.withContext({ deadlineMs: 120_000, signal: job.signal }, () => summarizeAll(job.items));
   * ```
   */
  withContext<T>(options: ContextOptions, fn: () => T): T;
  /**
   * Runs `fn` with a guarded request (`route.begin()`'s call) as the context of the calls of
   * `guard.middleware()` clients it makes. The adapters' `claudeGuard()` do it for every guarded
   * route; an adapter of your own calls it around its handler.
   *
   * The context is entered only once something of this guard can read it: a `guard.middleware()`
   * made, or {@link ClaudeGuard.requestId} called once; until then `fn` runs as it is. On Node 20 an
   * `AsyncLocalStorage` in use hooks every promise the process makes, which cost a plain Express
   * route about a sixth of its throughput in the benchmarks (Node 24's is nearly free).
   *
   * @example
   * ```ts
   * const begun = route.begin({ headers: request.headers, signal: request.signal });
   * if (begun.ok) return guard.withRequest(begun.call, () => handler(request));
   * ```
   */
  withRequest<T>(call: GuardedCall, fn: () => T): T;
  /**
   * The request id of the context the calling code runs in (a route mounted with `claudeGuard()`, or
   * {@link ClaudeGuard.withContext} with a `requestId`), else `undefined`: for code far below the
   * handler that logs or answers without `req.claude`. Guarded requests carry it from the first
   * `guard.middleware()` made or the first call of this method (see {@link ClaudeGuard.withRequest}):
   * a guard without middleware clients that needs it from its very first request calls it once at
   * startup (where it answers `undefined`).
   *
   * @example
   * ```ts
   * res.json({ text, request_id: guard.requestId() });
   * ```
   */
  requestId(): string | undefined;
  /** Subscribes to typed events; returns the unsubscribe function. */
  on(listener: GuardEventListener): () => void;
  /** Full detail (counts, options, exact timings): keep it behind your own access control. */
  status(): GuardStatus;
  /** Key, state and a whole-second wait per breaker: what a public `/guard/status` may show. */
  publicStatus(): PublicGuardStatus;
  /** Shuts every breaker down and stops the shared timers. */
  close(): void;
}

/**
 * Options of {@link ClaudeGuard.middleware}.
 *
 * @example
 * ```ts
 * new Anthropic({ middleware: [guard.middleware({ route: 'summarize' })], maxRetries: 0 });
 * ```
 */
export interface MiddlewareOptions {
  /** The route every call runs under, by name (mounted or not) or as `guard.route()` made it. */
  route: string | GuardedRoute;
}

/**
 * Options of {@link ClaudeGuard.withContext}.
 *
 * @example
 * ```ts
 * guard.withContext({ deadlineMs: 30_000, signal: AbortSignal.timeout(60_000), requestId: 'job_42' }, run);
 * ```
 */
export interface ContextOptions {
  /** Milliseconds from now that the calls in `fn` may take in all; without it, the route's default. */
  deadlineMs?: number | undefined;
  /** Aborts the calls in `fn` (as a client disconnect does). */
  signal?: AbortSignal | undefined;
  /** The request id of their log lines and error bodies; without it, a fresh one per call. */
  requestId?: string | undefined;
}

const NO_HEADERS: HeaderReader = { get: () => null };

/**
 * Creates a guard around an Anthropic client.
 *
 * @param options - the client and the defaults every route starts from
 * @returns the guard to mount routes with (`claudeGuard(guard, ...)` in the adapters)
 * @example
 * ```ts
 * import Anthropic from '@anthropic-ai/sdk';
 * import { createClaudeGuard } from '@claude-guard/core';
 *
 * const guard = createClaudeGuard({
 *   client: new Anthropic(),
 *   deadline: { defaultMs: 30_000 },
 *   breaker: { errorThresholdPercentage: 50, resetTimeout: 30_000 },
 *   logger: console,
 * });
 * ```
 */
export function createClaudeGuard(options: ClaudeGuardOptions): ClaudeGuard {
  const config = normalizeGuardOptions(options);
  const events = new GuardEvents();
  if (config.onEvent) events.on(config.onEvent);
  const apiKey = (config.client as { apiKey?: unknown }).apiKey;
  const secrets = typeof apiKey === 'string' && apiKey.length > 0 ? [apiKey] : [];
  // One client per guard: its rate-limit state is keyed by a hash of its key, never the key.
  const authToken = (config.client as { authToken?: unknown }).authToken;
  const credential = typeof apiKey === 'string' ? apiKey : typeof authToken === 'string' ? authToken : '';
  // Fleet mode: one sync for the breakers, the retry budget and the rate-limit view, over the store the user gave.
  const fleet = config.storeShared ? new FleetSync(config.store, config.clock, events, config.fleet) : undefined;
  const admission = new AdmissionRegistry(
    config.rateLimits,
    clientIdOf(credential),
    config.clock,
    events,
    secrets,
    fleet,
  );
  const runtime: GuardRuntime = {
    config,
    events,
    breakers: new BreakerRegistry(config.clock, events, fleet),
    budget: retryBudgetOf(config, fleet),
    nextRequestId: createRequestIdGenerator(),
    sdkVersion: SDK_VERSION,
    secrets,
    log: config.logger ? new LogWriter(config.logger, config.logFormat) : undefined,
    admission,
    // The guard's own attempts hand their signal to the fetch directly (see signal-lane.ts).
    client: signalLane(config.client).client,
  };
  const byName = new Map<string, GuardedRoute>();
  const mounted = new MountedRoutes();
  // Each route this guard made, to its runtime: guard.run gives a call its own deadline through it.
  const runtimes = new WeakMap<GuardedRoute, RouteRuntime>();

  // `byRun`: created by `guard.run(name)` for a name nobody mounted; never refused as a conflict.
  const route = (routeOptions: RouteOptions, byRun = false): GuardedRoute => {
    const routeConfig = normalizeRouteOptions(config, routeOptions);
    mounted.add(routeOptions, routeConfig, byRun);
    const routeRuntime = createRouteRuntime(runtime, routeConfig, byRun);
    const guarded: GuardedRoute = {
      name: routeConfig.route,
      begin: (input) => beginRequest(routeRuntime, input, false),
      proxy: (request) => handleProxy(routeRuntime, request),
    };
    if (!byName.has(guarded.name)) byName.set(guarded.name, guarded);
    runtimes.set(guarded, routeRuntime);
    return guarded;
  };

  // Errors already logged: an error seen by a guarded route and then by an error handler is logged once.
  const reported = new WeakSet<object>();
  const context = createAsyncContext<CallContext>();
  /** Whether anything of this guard reads `context` (a middleware, `requestId()`): until then requests do not enter it. */
  let contextRead = false;
  const runtimeOf = (target: string | GuardedRoute, option: string): RouteRuntime => {
    const guarded = typeof target === 'string' ? (byName.get(target) ?? route({ route: target }, true)) : target;
    const found = runtimes.get(guarded);
    if (!found) throw new TypeError(`claude-guard: option \`${option}\` must be a route of this guard`);
    return found;
  };

  const reportError = (error: unknown, context: { route?: string; requestId?: string } = {}): void => {
    const log = runtime.log;
    const behind = unexpectedBehind(error);
    if (!log || behind === undefined) return;
    const unexpected = behind.value;
    if (typeof unexpected === 'object' && unexpected !== null) {
      if (reported.has(unexpected)) return;
      reported.add(unexpected);
    }
    const record = { ...context, err: describeError(unexpected, runtime.secrets) };
    // At error level (else warn, else info), one JSON line with a console.
    log.write('error', record, 'claude-guard unexpected error');
  };

  return {
    route: (routeOptions) => route(routeOptions),
    async run(target, fn, runOptions) {
      const guarded = typeof target === 'string' ? (byName.get(target) ?? route({ route: target }, true)) : target;
      const input = { headers: runOptions?.headers ?? NO_HEADERS, signal: runOptions?.signal, lane: runOptions?.lane };
      const deadlineMs = runOptions?.deadlineMs;
      let begun: BeginResult;
      if (deadlineMs === undefined) {
        begun = guarded.begin(input);
      } else {
        const routeRuntime = runtimes.get(guarded);
        if (!routeRuntime) {
          throw new TypeError(
            `claude-guard: guard.run('${guarded.name}', fn, { deadlineMs }) needs a route of this guard`,
          );
        }
        checkRunDeadline(deadlineMs, routeRuntime.config.route, routeRuntime.config.deadline.maxMs);
        begun = beginRequest(routeRuntime, input, false, deadlineMs);
      }
      // Only a malformed or spent deadline header gets here.
      if (!begun.ok) throw begun.error;
      // Every route's begin() is beginRequest's: its call is a GuardedRequest.
      const call = begun.call as GuardedRequest;
      try {
        const result = await call.run(fn);
        call.end(200);
        return result;
      } catch (error) {
        // The caller gets the sanitized error only: a bug of its own is logged here, with its stack.
        reportError(error, { route: guarded.name, requestId: call.requestId });
        throw call.endWithError(error);
      }
    },
    errorResponse(error, headers = NO_HEADERS) {
      reportError(error);
      const guardError = claudeGuardErrorOf(error) ?? internalError();
      return errorResponse(guardError, {
        requestId: guardError.requestId ?? resolveRequestId(headers.get(config.requestIdHeader), runtime.nextRequestId),
        requestIdHeader: guardError.requestIdHeader ?? config.requestIdHeader,
      });
    },
    reportError,
    middleware(middlewareOptions) {
      const target = readMiddlewareOptions(middlewareOptions);
      contextRead = true;
      if (typeof target !== 'string') runtimeOf(target, 'route'); // checked now: of this guard
      let own: RouteRuntime | undefined;
      return createSdkMiddleware({
        routeFor: (name) => (name === undefined ? (own ??= runtimeOf(target, 'route')) : runtimeOf(name, 'route')),
        context,
      });
    },
    withContext(contextOptions, fn) {
      const { deadlineMs, signal, requestId } = readContextOptions(contextOptions, fn);
      const enclosing = context.get();
      const at = deadlineMs === undefined ? undefined : config.clock.now() + deadlineMs;
      return context.run(
        {
          requestId: requestId ?? enclosing?.requestId,
          signal: () => {
            const outer = enclosing?.signal();
            return outer && signal ? AbortSignal.any([outer, signal]) : (outer ?? signal);
          },
          budget: () => {
            const outer = enclosing?.budget();
            const own = at === undefined ? undefined : Math.max(0, at - config.clock.now());
            // The tighter one wins: a nested context never extends its request's time.
            if (own === undefined || (outer !== undefined && outer.ms <= own)) return outer;
            return { ms: own, callerSet: false };
          },
        },
        fn,
      );
    },
    withRequest(call, fn) {
      // Nobody reads the context yet: no AsyncLocalStorage run (see withRequest's documentation).
      if (!contextRead) return fn();
      const deadline = call.deadline;
      return context.run(
        {
          requestId: call.requestId,
          signal: () => deadline.signal,
          budget: () => ({ ms: deadline.remaining(), callerSet: deadline.source === 'caller-header' }),
        },
        fn,
      );
    },
    requestId: () => {
      contextRead = true;
      return context.get()?.requestId;
    },
    on: (listener) => events.on(listener),
    status: () => ({
      breakers: runtime.breakers.snapshot(),
      admission: admission.status(),
      store: { shared: config.storeShared, connected: runtime.breakers.storeConnected },
    }),
    publicStatus: () => ({ breakers: runtime.breakers.publicSnapshot(), admission: admission.publicStatus() }),
    close: () => runtime.breakers.close(),
  };
}

/** The guard's retry budget: none, this process's own, or (fleet mode) the fleet's. */
function retryBudgetOf(config: GuardConfig, fleet: FleetSync | undefined): RetryBudget | undefined {
  if (config.retryBudget === false) return undefined;
  const options = { now: config.clock.now, ...config.retryBudget };
  // Built either way: it validates the options, naming the bad one.
  const local = createRetryBudget(options);
  if (fleet === undefined) return local;
  const budget = new FleetRetryBudget({ ...DEFAULTS.retryBudget, ...options });
  fleet.add(budget);
  return budget;
}

/** `guard.run`'s `deadlineMs`: a positive finite number of milliseconds, within the route's maximum. */
function checkRunDeadline(deadlineMs: unknown, route: string, maxMs: number): void {
  if (typeof deadlineMs !== 'number' || !Number.isFinite(deadlineMs) || deadlineMs <= 0 || deadlineMs > maxMs) {
    throw new TypeError(
      `claude-guard: option \`deadlineMs\` of guard.run('${route}') must be a positive number of milliseconds, at most ` +
        `the route's deadline.maxMs (${maxMs}), got ${JSON.stringify(deadlineMs) ?? String(deadlineMs)}`,
    );
  }
}

// A foreign error's own text may hold anything (a stack, a key, a SQL fragment): none of it is sent.
function internalError(): ClaudeGuardError {
  return new ClaudeGuardError({
    status: 500,
    type: 'api_error',
    message: 'Internal server error',
    outcome: 'internal-error',
  });
}

/**
 * The error a 500 hides: `error` itself when it is not the guard's, the `cause` of the guard's own
 * `internal-error` (a bug inside `claude.run(fn)`), or none for the guard's other errors.
 */
function unexpectedBehind(error: unknown): { value: unknown } | undefined {
  if (!isClaudeGuardError(error)) return { value: error };
  return error.outcome === 'internal-error' && error.cause !== undefined ? { value: error.cause } : undefined;
}

const MIDDLEWARE_KEYS = ['route'];
const CONTEXT_KEYS = ['deadlineMs', 'signal', 'requestId'];

function readMiddlewareOptions(options: unknown): string | GuardedRoute {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('claude-guard: guard.middleware(options) needs an options object with `route`');
  }
  for (const key of Object.keys(options)) {
    if (!MIDDLEWARE_KEYS.includes(key))
      throw new TypeError(`claude-guard: guard.middleware() has no option \`${key}\``);
  }
  const route = (options as { route?: unknown }).route;
  if (typeof route === 'string' ? route.length === 0 : typeof route !== 'object' || route === null) {
    throw new TypeError(
      `claude-guard: option \`route\` of guard.middleware() must be a route name or a route of this guard, got ${JSON.stringify(route) ?? String(route)}`,
    );
  }
  return route as string | GuardedRoute;
}

function readContextOptions(options: unknown, fn: unknown): ContextOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('claude-guard: guard.withContext(options, fn) needs an options object');
  }
  for (const key of Object.keys(options)) {
    if (!CONTEXT_KEYS.includes(key)) {
      throw new TypeError(`claude-guard: guard.withContext() has no option \`${key}\` (${CONTEXT_KEYS.join(', ')})`);
    }
  }
  const { deadlineMs, signal, requestId } = options as ContextOptions;
  if (deadlineMs !== undefined && (typeof deadlineMs !== 'number' || !Number.isFinite(deadlineMs) || deadlineMs <= 0)) {
    throw new TypeError(
      `claude-guard: option \`deadlineMs\` of guard.withContext() must be a positive number of milliseconds, got ${JSON.stringify(deadlineMs) ?? String(deadlineMs)}`,
    );
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError('claude-guard: option `signal` of guard.withContext() must be an AbortSignal');
  }
  if (requestId !== undefined && !isValidRequestId(requestId)) {
    throw new TypeError('claude-guard: option `requestId` of guard.withContext() must be a valid request id');
  }
  if (typeof fn !== 'function')
    throw new TypeError('claude-guard: guard.withContext(options, fn) needs a function `fn`');
  return { deadlineMs, signal, requestId };
}

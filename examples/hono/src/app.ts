import { anthropicErrorBody, ClaudeGuardError, type ClaudeGuard, type RouteOptions } from '@claude-guard/core';
import {
  chatParams,
  createDirectClaude,
  messageText,
  DEMO_FAULTS,
  DEMO_PAGE_HTML,
  exampleMetrics,
  fleetStatus,
  honoMetricsHandler,
  isDemoFault,
  type DemoFaultName,
  type ExampleUpstream,
} from '@claude-guard/example-shared';
import { claudeGuard, claudeGuardErrorHandler, claudeProxy } from '@claude-guard/hono';
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

/** Largest `/chat` body (as the Express example): a 4 000-character message fits with room to spare. */
const CHAT_BODY_LIMIT = 64 * 1024;
/** Largest `/demo/fault` body: `{"fault": "<name>"}`. */
const FAULT_BODY_LIMIT = 4 * 1024;

/**
 * Caps a route's body: Hono reads bodies without any limit of its own. Over the limit, the
 * Anthropic-shaped 413 the guard's routes answer with, the request id under the guard's header.
 */
function limitBody(guard: ClaudeGuard, maxSize: number): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: (c) => {
      const error = new ClaudeGuardError({
        status: 413,
        type: 'request_too_large',
        message: `The request body exceeds this route's limit of ${maxSize} bytes`,
        outcome: 'bad-request',
        // Answered before the body was read: the client must not send its next request on this connection.
        headers: { connection: 'close' },
      });
      return guard.errorResponse(error, c.req.raw.headers);
    },
  });
}

/**
 * The example's routes: the passthrough, a handler wrapping its own Claude call, health,
 * breaker status, the demo page and (with the embedded fake only) its fault controls.
 * `applyDemoFault` queues a fault on an embedded fake that runs outside this app (on workerd, the
 * fake runs beside the worker); without it, the controls drive `upstream.fake`.
 *
 * @example
 * ```ts
 * serve({ fetch: createHonoExample({ guard, upstream, model: 'claude-sonnet-5' }).fetch, port: 3000 });
 * ```
 */
export function createHonoExample(options: {
  guard: ClaudeGuard;
  upstream: ExampleUpstream;
  model: string;
  /** Options of both Claude routes (`readExampleConfig`'s `routes`: the fallback and the hedge). Default none. */
  routes?: Omit<RouteOptions, 'route'> | undefined;
  applyDemoFault?: ((name: DemoFaultName) => Promise<void>) | undefined;
}): Hono {
  const { guard, upstream, model } = options;
  const routes = options.routes ?? {};
  const fake = upstream.fake;
  const applyDemoFault =
    options.applyDemoFault ??
    (fake ? (name: DemoFaultName) => Promise.resolve(DEMO_FAULTS[name].apply(fake)) : undefined);
  const app = new Hono();
  app.onError(claudeGuardErrorHandler(guard));

  app.get('/', (c) => c.html(DEMO_PAGE_HTML));
  app.get('/healthz', (c) => c.json({ ok: true }));
  // Anyone may read this: key, state and a whole-second wait per breaker. guard.status() (counts,
  // exact timings) belongs behind your own access control.
  app.get('/guard/status', (c) =>
    c.json({
      upstream: applyDemoFault ? 'fake-anthropic' : 'anthropic',
      ...guard.publicStatus(),
      ...fleetStatus(guard),
    }),
  );
  // Prometheus text: route, model and breaker names, never a request, a prompt or a key. In production,
  // serve it where only your scraper reaches.
  app.get('/metrics', honoMetricsHandler(exampleMetrics(guard)));

  // The passthrough limits its own body: `proxy.maxBodyBytes`, 1 MiB by default.
  app.post('/v1/messages', claudeProxy(guard, { ...routes, route: 'proxy' }));

  app.post('/chat', limitBody(guard, CHAT_BODY_LIMIT), claudeGuard(guard, { ...routes, route: 'chat' }), async (c) => {
    const chat = chatParams(await c.req.json().catch(() => null), model);
    if (!chat.ok) return c.json(anthropicErrorBody('invalid_request_error', chat.error, c.var.claude.requestId), 400);
    if (chat.stream) return c.var.claude.stream(c, chat.params, { format: 'text' });
    const message = await c.var.claude.messages.create(chat.params);
    return c.json({ text: messageText(message), request_id: c.var.claude.requestId });
  });

  // Guard code you don't own: this handler never touches c.var.claude. It calls an SDK client built with
  // guard.middleware() (as a service module would hold one), and the call still gets this request's
  // deadline (x-request-timeout-ms and friends), disconnect and id, retries and the breaker of route
  // 'chat-direct'. claudeGuard() gives the request its context.
  const claude = createDirectClaude(guard, upstream);
  app.post(
    '/chat-direct',
    limitBody(guard, CHAT_BODY_LIMIT),
    claudeGuard(guard, { route: 'chat-direct' }),
    async (c) => {
      const requestId = guard.requestId() ?? '';
      const chat = chatParams(await c.req.json().catch(() => null), model);
      if (!chat.ok) return c.json(anthropicErrorBody('invalid_request_error', chat.error, requestId), 400);
      const message = await claude.messages.create(chat.params);
      return c.json({ text: messageText(message), request_id: requestId });
    },
  );

  if (applyDemoFault) {
    app.get('/demo/faults', (c) =>
      c.json(Object.fromEntries(Object.entries(DEMO_FAULTS).map(([name, fault]) => [name, fault.label]))),
    );
    app.post('/demo/fault', limitBody(guard, FAULT_BODY_LIMIT), async (c) => {
      const name: unknown = ((await c.req.json().catch(() => null)) as { fault?: unknown } | null)?.fault;
      if (!isDemoFault(name)) return c.json({ error: 'unknown fault' }, 400);
      await applyDemoFault(name);
      return c.json({ queued: name });
    });
  }
  return app;
}

import { anthropicErrorBody, type ClaudeGuard, type RouteOptions } from '@claude-guard/core';
import {
  chatParams,
  createDirectClaude,
  DEMO_FAULTS,
  DEMO_PAGE_HTML,
  exampleMetrics,
  fleetStatus,
  expressMetricsHandler,
  isDemoFault,
  messageText,
  type ExampleUpstream,
} from '@claude-guard/example-shared';
import { claudeGuard, claudeGuardErrorHandler, claudeProxy, guarded } from '@claude-guard/express';
import express, { type Express } from 'express';

/**
 * The example's routes: the passthrough, a handler wrapping its own Claude call, health,
 * breaker status, and (with the embedded fake only) the demo page's fault controls.
 *
 * @example
 * ```ts
 * createExpressExample({ guard, upstream, model: 'claude-sonnet-5' }).listen(3000);
 * ```
 */
export function createExpressExample(options: {
  guard: ClaudeGuard;
  upstream: ExampleUpstream;
  model: string;
  /** Options of both Claude routes (`readExampleConfig`'s `routes`: the fallback and the hedge). Default none. */
  routes?: Omit<RouteOptions, 'route'> | undefined;
}): Express {
  const { guard, upstream, model } = options;
  const routes = options.routes ?? {};
  const app = express();
  app.disable('x-powered-by');

  app.get('/', (_req, res) => {
    res.type('html').send(DEMO_PAGE_HTML);
  });
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  // Anyone may read this: key, state and a whole-second wait per breaker. guard.status() (counts,
  // exact timings) belongs behind your own access control.
  app.get('/guard/status', (_req, res) => {
    res.json({
      upstream: upstream.fake ? 'fake-anthropic' : 'anthropic',
      ...guard.publicStatus(),
      ...fleetStatus(guard),
    });
  });
  // Prometheus text: route, model and breaker names, never a request, a prompt or a key. In production,
  // serve it where only your scraper reaches.
  app.get('/metrics', expressMetricsHandler(exampleMetrics(guard)));

  // The passthrough reads the raw body itself (size limit `proxy.maxBodyBytes`, 1 MiB by default; JSON
  // checks; the deadline): no body parser before it.
  app.post('/v1/messages', claudeProxy(guard, { ...routes, route: 'proxy' }));

  app.post(
    '/chat',
    express.json({ limit: '64kb' }),
    claudeGuard(guard, { ...routes, route: 'chat' }),
    // guarded(): req.claude typed, and a rejection goes to the error handler on Express 4 too.
    guarded(async (req, res) => {
      const chat = chatParams(req.body, model);
      if (!chat.ok) {
        res.status(400).json(anthropicErrorBody('invalid_request_error', chat.error, req.claude.requestId));
        return;
      }
      if (chat.stream) {
        await req.claude.stream(res, chat.params, { format: 'text' });
        return;
      }
      const message = await req.claude.messages.create(chat.params);
      res.json({ text: messageText(message), request_id: req.claude.requestId });
    }),
  );

  // Guard code you don't own: this handler never touches req.claude. It calls an SDK client built with
  // guard.middleware() (as a service module would hold one), and the call still gets this request's
  // deadline (x-request-timeout-ms and friends), disconnect and id, retries and the breaker of route
  // 'chat-direct'. claudeGuard() gives the request its context; guarded() forwards a rejection.
  const claude = createDirectClaude(guard, upstream);
  app.post(
    '/chat-direct',
    express.json({ limit: '64kb' }),
    claudeGuard(guard, { route: 'chat-direct' }),
    guarded(async (req, res) => {
      const requestId = guard.requestId() ?? '';
      const chat = chatParams(req.body, model);
      if (!chat.ok) {
        res.status(400).json(anthropicErrorBody('invalid_request_error', chat.error, requestId));
        return;
      }
      const message = await claude.messages.create(chat.params);
      res.json({ text: messageText(message), request_id: requestId });
    }),
  );

  const fake = upstream.fake;
  if (fake) {
    app.get('/demo/faults', (_req, res) => {
      res.json(Object.fromEntries(Object.entries(DEMO_FAULTS).map(([name, fault]) => [name, fault.label])));
    });
    app.post('/demo/fault', express.json({ limit: '4kb' }), (req, res) => {
      const name: unknown = (req.body as { fault?: unknown } | undefined)?.fault;
      if (!isDemoFault(name)) {
        res.status(400).json({ error: 'unknown fault' });
        return;
      }
      DEMO_FAULTS[name].apply(fake);
      res.json({ queued: name });
    });
  }

  // allRoutes: the demo's own routes (/demo/fault's body limit) answer Anthropic-shaped too, as in the Hono example.
  app.use(claudeGuardErrorHandler(guard, { allRoutes: true }));
  return app;
}

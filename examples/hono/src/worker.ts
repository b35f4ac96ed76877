/**
 * The Hono example as a Cloudflare Worker: the module `workerd` (and Wrangler) load. The same app and
 * routes as on Node; the environment variables arrive as the worker's text bindings (see
 * `workerd.capnp`). A worker cannot listen on a socket, so it never embeds the fake: `start:workerd`
 * (`workerd-start.ts`) starts it beside workerd, passes its URL as `ANTHROPIC_BASE_URL` and the
 * address of its fault controls as `FAKE_ANTHROPIC_CONTROL_URL`, which the demo page's buttons reach.
 */
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard } from '@claude-guard/core';
import { jsonLogger, readExampleConfig, type DemoFaultName } from '@claude-guard/example-shared';
import type { Hono } from 'hono';
import { createHonoExample } from './app.js';

/** The worker's bindings: text, or null for a variable that was not set (workerd's `fromEnvironment`). */
export type ExampleBindings = Readonly<Record<string, unknown>>;

// One app per isolate, built on the first request: bindings are only known then, and the guard's
// breakers must outlive a single request.
let app: Hono | undefined;

function createWorkerApp(bindings: ExampleBindings): Hono {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(bindings)) if (typeof value === 'string') env[name] = value;
  const config = readExampleConfig(env);
  const client = new Anthropic({
    apiKey: env['ANTHROPIC_API_KEY'] || null,
    baseURL: env['ANTHROPIC_BASE_URL'] || undefined,
    // The guard owns retries.
    maxRetries: 0,
  });
  const guard = createClaudeGuard({ client, logger: jsonLogger, ...config.guard });
  const upstream = {
    client,
    fake: undefined,
    description: `the Claude API at ${client.baseURL}`,
    close: async () => {},
  };
  const control = env['FAKE_ANTHROPIC_CONTROL_URL'];
  const applyDemoFault = control
    ? async (name: DemoFaultName) => {
        const answer = await fetch(new URL('/demo/fault', control), {
          method: 'POST',
          body: JSON.stringify({ fault: name }),
        });
        if (!answer.ok) throw new Error(`fake-anthropic's controls answered ${answer.status}`);
      }
    : undefined;
  return createHonoExample({ guard, upstream, model: config.model, routes: config.routes, applyDemoFault });
}

export default {
  fetch(request: Request, bindings: ExampleBindings, context: unknown): Response | Promise<Response> {
    app ??= createWorkerApp(bindings);
    return app.fetch(request, bindings, context as never);
  },
};

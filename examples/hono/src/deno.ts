/**
 * The Hono example on Deno's own server: `pnpm --dir examples/hono start:deno`. The same app, routes and
 * environment variables as on Node; with no key or base URL, the embedded fake (Deno provides `node:http`).
 */
import { createExampleRuntime } from '@claude-guard/example-shared';
import { announce } from './announce.js';
import { createHonoExample } from './app.js';

/** The part of Deno's global this file uses (the project does not depend on Deno's types). */
declare const Deno: {
  env: { toObject(): Record<string, string> };
  serve(
    options: { port: number; hostname: string; onListen?: () => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
  addSignalListener(signal: 'SIGINT' | 'SIGTERM', handler: () => void): void;
  exit(code: number): never;
};

const runtime = await createExampleRuntime(Deno.env.toObject());
const app = createHonoExample({
  guard: runtime.guard,
  upstream: runtime.upstream,
  model: runtime.config.model,
  routes: runtime.config.routes,
});
const server = Deno.serve(
  // Deno prints its own "Listening on" line unless told otherwise; ours says more.
  { port: runtime.config.port, hostname: runtime.config.host, onListen: () => {} },
  (request) => app.fetch(request),
);
announce('Deno', `http://${runtime.config.host}:${server.addr.port}`, runtime.upstream.description);

const stop = async () => {
  await server.shutdown();
  // Telemetry's last export reads the guard's breakers: before the guard closes.
  await runtime.telemetry.close();
  runtime.guard.close();
  await runtime.upstream.close();
  Deno.exit(0);
};
Deno.addSignalListener('SIGINT', () => void stop());
Deno.addSignalListener('SIGTERM', () => void stop());

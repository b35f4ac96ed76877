/**
 * The Hono example on Bun's own server: `pnpm --dir examples/hono start:bun`. The same app, routes and
 * environment variables as on Node; with no key or base URL, the embedded fake (Bun provides `node:http`).
 */
import { createExampleRuntime } from '@claude-guard/example-shared';
import { announce } from './announce.js';
import { createHonoExample } from './app.js';

/** The part of Bun's global this file uses (the project does not depend on bun-types). */
declare const Bun: {
  serve(options: {
    fetch: (request: Request) => Response | Promise<Response>;
    port: number;
    hostname: string;
    idleTimeout: number;
  }): { port: number; stop(closeActiveConnections?: boolean): Promise<void> };
};

const runtime = await createExampleRuntime(process.env);
const app = createHonoExample({
  guard: runtime.guard,
  upstream: runtime.upstream,
  model: runtime.config.model,
  routes: runtime.config.routes,
});
const server = Bun.serve({
  fetch: (request) => app.fetch(request),
  port: runtime.config.port,
  hostname: runtime.config.host,
  // By default Bun ends a response that sends nothing for 10 s, and the guard's heartbeats come every
  // 15 s (stream.heartbeatMs): a quiet stream would be cut. The guard's deadline bounds every request.
  idleTimeout: 0,
});
announce('Bun', `http://${runtime.config.host}:${server.port}`, runtime.upstream.description);

const stop = async () => {
  await server.stop(true);
  // Telemetry's last export reads the guard's breakers: before the guard closes.
  await runtime.telemetry.close();
  runtime.guard.close();
  await runtime.upstream.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

import { serve, type ServerType } from '@hono/node-server';
import type { GuardLogger } from '@claude-guard/core';
import { createExampleRuntime, runningExample } from '@claude-guard/example-shared';
import type { Server } from 'node:http';
import { createHonoExample } from './app.js';

/**
 * Starts the Hono example (the demo): upstream (real or embedded fake), guard, server.
 *
 * @example
 * ```ts
 * const app = await startHonoExample(process.env);
 * await app.close();
 * ```
 */
export async function startHonoExample(env: NodeJS.ProcessEnv, logger?: GuardLogger) {
  const runtime = await createExampleRuntime(env, logger);
  const { config, guard, upstream } = runtime;
  const app = createHonoExample({ guard, upstream, model: config.model, routes: config.routes });
  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(started));
    started.once('error', reject);
  });
  return runningExample(runtime, server, () => (server as Server).closeAllConnections());
}

import { serve, type ServerType } from '@hono/node-server';
import { createClaudeGuard } from '@claude-guard/core';
import { jsonLogger, readExampleConfig, startUpstream } from '@claude-guard/example-shared';
import type { AddressInfo } from 'node:net';
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
export async function startHonoExample(env: NodeJS.ProcessEnv, logger = jsonLogger) {
  const config = readExampleConfig(env);
  const upstream = await startUpstream(env);
  const guard = createClaudeGuard({ client: upstream.client, logger, ...config.guard });
  const app = createHonoExample({ guard, upstream, model: config.model });
  const server = await new Promise<ServerType>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(started));
    started.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${config.host}:${port}`,
    upstream,
    guard,
    async close() {
      (server as Server).closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      guard.close();
      await upstream.close();
    },
  };
}

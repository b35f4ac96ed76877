import { createClaudeGuard } from '@claude-guard/core';
import { jsonLogger, readExampleConfig, startUpstream } from '@claude-guard/example-shared';
import type { AddressInfo } from 'node:net';
import { createExpressExample } from './app.js';

/**
 * Starts the Express example: upstream (real or embedded fake), guard, server.
 *
 * @example
 * ```ts
 * const app = await startExpressExample(process.env);
 * await app.close();
 * ```
 */
export async function startExpressExample(env: NodeJS.ProcessEnv, logger = jsonLogger) {
  const config = readExampleConfig(env);
  const upstream = await startUpstream(env);
  const guard = createClaudeGuard({ client: upstream.client, logger, ...config.guard });
  const server = createExpressExample({ guard, upstream, model: config.model }).listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${config.host}:${port}`,
    upstream,
    guard,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      guard.close();
      await upstream.close();
    },
  };
}

import { createExampleRuntime, runningExample } from '@claude-guard/example-shared';
import type { GuardLogger } from '@claude-guard/core';
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
export async function startExpressExample(env: NodeJS.ProcessEnv, logger?: GuardLogger) {
  const runtime = await createExampleRuntime(env, logger);
  const { config, guard, upstream } = runtime;
  const server = createExpressExample({ guard, upstream, model: config.model, routes: config.routes }).listen(
    config.port,
    config.host,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  return runningExample(runtime, server, () => server.closeAllConnections());
}

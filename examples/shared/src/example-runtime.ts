import { createClaudeGuard, type ClaudeGuard, type GuardLogger } from '@claude-guard/core';
import { readExampleConfig, type ExampleConfig } from './config.js';
import { jsonLogger } from './chat.js';
import { startUpstream, type ExampleUpstream } from './upstream.js';

/** What both example servers are built from: their config, upstream and guard. */
export interface ExampleRuntime {
  config: ExampleConfig;
  upstream: ExampleUpstream;
  guard: ClaudeGuard;
}

/**
 * Reads the environment, starts the upstream (real or embedded fake) and the guard.
 *
 * @example
 * ```ts
 * const { config, upstream, guard } = await createExampleRuntime(process.env);
 * ```
 */
export async function createExampleRuntime(
  env: NodeJS.ProcessEnv,
  logger: GuardLogger = jsonLogger,
): Promise<ExampleRuntime> {
  const config = readExampleConfig(env);
  const upstream = await startUpstream(env);
  const guard = createClaudeGuard({ client: upstream.client, logger, ...config.guard });
  return { config, upstream, guard };
}

/**
 * The handle an example's `start` returns: its URL, and `close()` that ends the server's
 * connections, the guard and the upstream, in that order.
 *
 * @example
 * ```ts
 * return runningExample(runtime, server, () => server.closeAllConnections());
 * ```
 */
export function runningExample(
  runtime: ExampleRuntime,
  server: { address(): unknown; close(callback: () => void): unknown },
  dropConnections: () => void,
) {
  const { port } = server.address() as { port: number };
  return {
    url: `http://${runtime.config.host}:${port}`,
    upstream: runtime.upstream,
    guard: runtime.guard,
    async close() {
      dropConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      runtime.guard.close();
      await runtime.upstream.close();
    },
  };
}

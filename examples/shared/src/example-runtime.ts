import { createClaudeGuard, type ClaudeGuard, type GuardLogger } from '@claude-guard/core';
import { readExampleConfig, type ExampleConfig } from './config.js';
import { jsonLogger } from './chat.js';
import { startExampleFleet, type ExampleFleet } from './fleet.js';
import { startExampleTelemetry, type ExampleTelemetry } from './telemetry.js';
import { startUpstream, type ExampleUpstream } from './upstream.js';

/** What both example servers are built from: their config, upstream and guard. */
export interface ExampleRuntime {
  config: ExampleConfig;
  upstream: ExampleUpstream;
  guard: ClaudeGuard;
  /** `GET /metrics`, and OTLP export when `OTEL_EXPORTER_OTLP_ENDPOINT` is set. */
  telemetry: ExampleTelemetry;
  /** Fleet mode (`CLAUDE_GUARD_REDIS_URL`): the store and its Redis connection; `undefined` otherwise. */
  fleet: ExampleFleet | undefined;
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
  // Before the SDK client: its spans go to the tracer provider registered when it is made.
  const telemetry = startExampleTelemetry(env);
  const upstream = await startUpstream(env);
  const fleet = await startExampleFleet(env);
  // Spans only when OTLP export is configured; otherwise `undefined`, and the guard builds none.
  const guard = createClaudeGuard({
    client: upstream.client,
    logger,
    ...config.guard,
    instrumentation: telemetry.instrumentation,
    ...(fleet ? { store: fleet.store } : {}),
  });
  telemetry.observe(guard);
  return { config, upstream, guard, telemetry, fleet };
}

/**
 * The handle an example's `start` returns: its URL, and `close()` that ends the server's
 * connections, flushes telemetry, and ends the guard and the upstream, in that order.
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
      // Telemetry's last export reads the guard's breakers: before the guard closes.
      await runtime.telemetry.close();
      runtime.guard.close();
      runtime.fleet?.close();
      await runtime.upstream.close();
    },
  };
}

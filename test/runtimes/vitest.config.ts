import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `pnpm test:runtimes`: the Hono example on Node, Bun, Deno and workerd, one file per runtime. Its own
// config (the root one leaves test/runtimes out) because it runs the built packages, in child processes.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/runtimes/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    // Timing assertions: two runtimes at a time on a two-core machine.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 90_000,
    reporters: ['default', './test/support/summary-line-reporter.ts'],
  },
});

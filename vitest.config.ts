import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests run against the sources; the built packages are checked by publint and attw.
export default defineConfig({
  resolve: {
    alias: {
      '@claude-guard/core': src('core'),
      '@claude-guard/express': src('express'),
      '@claude-guard/hono': src('hono'),
      '@claude-guard/fake-anthropic': src('fake-anthropic'),
    },
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    restoreMocks: true,
    unstubEnvs: true,
    pool: 'forks',
    reporters: ['default', './test/support/summary-line-reporter.ts'],
  },
});

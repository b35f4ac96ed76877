import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const src = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// One project per package (its unit tests, beside the code) plus the cross-package suites in test/.
// Each package's `pnpm test` runs its own project: `vitest run --root ../.. --project <name>`.
const PACKAGES = ['core', 'express', 'hono', 'fake-anthropic', 'telemetry', 'redis'];

// Tests run against the sources; the built packages are checked by publint and attw.
export default defineConfig({
  resolve: {
    alias: {
      '@claude-guard/core': src('core'),
      '@claude-guard/express': src('express'),
      '@claude-guard/hono': src('hono'),
      '@claude-guard/fake-anthropic': src('fake-anthropic'),
      // The subpath first: the bare name would otherwise match it as a prefix.
      '@claude-guard/telemetry/otel': fileURLToPath(new URL('./packages/telemetry/src/otel.ts', import.meta.url)),
      '@claude-guard/telemetry': src('telemetry'),
      '@claude-guard/redis': src('redis'),
    },
  },
  test: {
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    restoreMocks: true,
    unstubEnvs: true,
    pool: 'forks',
    reporters: ['default', './test/support/summary-line-reporter.ts'],
    projects: [
      ...PACKAGES.map((name) => ({
        extends: true as const,
        test: { name, include: [`packages/${name}/src/**/*.test.ts`] },
      })),
      { extends: true as const, test: { name: 'examples', include: ['examples/*/src/**/*.test.ts'] } },
      {
        extends: true as const,
        // test/runtimes runs the built examples on other runtimes: `pnpm test:runtimes`, its own config.
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/runtimes/**'],
        },
      },
    ],
  },
});

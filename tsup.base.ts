import { defineConfig, type Options } from 'tsup';

/** The one build every package shares: dual ESM + CJS with types, for Node 20. */
export function packageBuild(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    // tsup's declaration build runs its own program: no composite, and TS 6 warns about its internal baseUrl.
    dts: { compilerOptions: { composite: false, emitDeclarationOnly: false, ignoreDeprecations: '6.0' } },
    sourcemap: true,
    clean: true,
    target: 'node20',
    ...overrides,
  });
}

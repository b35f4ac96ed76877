// A bench process bundled into one JavaScript file, to fork with node alone: without tsx's module
// hooks, a child that imports the SDK starts in a fraction of the time (tsx hooks every module the
// SDK loads), and it runs as an app's compiled code would (no source-map support installed).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

/**
 * Packages stay imports, of the files the bench itself resolves (its node_modules, the built
 * workspace packages), so that the bundle can live in a temp directory and shares one copy of each
 * package with anything else the child imports by URL (the baseline core, bench/lib/baseline.ts).
 */
const packagesFromBench: Plugin = {
  name: 'packages-from-bench',
  setup(onBuild) {
    onBuild.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('node:')
        ? { path: args.path, external: true }
        : { path: import.meta.resolve(args.path), external: true },
    );
  },
};

/** A bundled bench process: its file URL, to fork, and a clean-up for its temp directory. */
export interface BundledProc {
  url: URL;
  dispose(): void;
}

/** Bundles `entry` (a bench TypeScript file) with esbuild into one ESM file in a temp directory. */
export async function bundleProc(entry: URL): Promise<BundledProc> {
  const dir = mkdtempSync(join(tmpdir(), 'claude-guard-bench-proc-'));
  try {
    const outfile = join(dir, 'proc.mjs');
    await build({
      entryPoints: [fileURLToPath(entry)],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      plugins: [packagesFromBench],
      logLevel: 'error',
    });
    return { url: pathToFileURL(outfile), dispose: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

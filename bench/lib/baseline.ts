// The core as it was before the redesign of issue 11, built from git next to the current one, so that
// scenario 1 measures "before" and "after" in the same process run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

/** The last commit before the core redesign (issue 11). */
export const BASELINE_COMMIT = 'd0723c1';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Packages the old core shares with the bench, resolved from the bench (so the old and the new core use
 * one `@anthropic-ai/sdk` and one opossum): the SDK's entry points and opossum stay imports of those
 * files; p-timeout (a dependency the core has since dropped; its build bundled it) is bundled.
 */
const shared: Plugin = {
  name: 'baseline-shared-packages',
  setup(onBuild) {
    onBuild.onResolve({ filter: /^(@anthropic-ai\/sdk|opossum)(\/|$)/ }, (args) => ({
      path: import.meta.resolve(args.path),
      external: true,
    }));
  },
};

/** The baseline core, built: its `import()`-able file URL and a clean-up for its temp directory. */
export interface BaselineCore {
  url: string;
  commit: string;
  dispose(): void;
}

/**
 * Extracts `packages/core/src` at {@link BASELINE_COMMIT} (`git archive`, no worktree, nothing
 * installed) into a temp directory and bundles it with esbuild into one ESM file there.
 *
 * @returns The bundle's file URL, to `import()`, and its clean-up.
 */
export async function buildBaselineCore(commit = BASELINE_COMMIT): Promise<BaselineCore> {
  const dir = mkdtempSync(join(tmpdir(), 'claude-guard-baseline-'));
  try {
    const archive = execFileSync('git', ['-C', repoRoot, 'archive', '--format=tar', commit, 'packages/core/src'], {
      maxBuffer: 64 * 2 ** 20,
      // git's own message (e.g. "not a valid object name" in a shallow clone) goes into the error, not the output.
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    execFileSync('tar', ['-x', '-C', dir], { input: archive });
    const outfile = join(dir, 'core.mjs');
    await build({
      entryPoints: [join(dir, 'packages/core/src/index.ts')],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // p-timeout is resolved from the bench's node_modules (the temp directory has none).
      nodePaths: [join(repoRoot, 'bench/node_modules')],
      plugins: [shared],
      logLevel: 'error',
    });
    return { url: pathToFileURL(outfile).href, commit, dispose: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

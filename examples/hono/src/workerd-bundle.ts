import { build, type Plugin } from 'esbuild';
import { builtinModules } from 'node:module';

const NODE_BUILTIN = new RegExp(`^(node:)?(${builtinModules.map((name) => name.replace('/', '\\/')).join('|')})$`);

/**
 * workerd knows Node's modules by their `node:` names only, and a CommonJS `require('events')`
 * (opossum's) cannot stay a `require` in an ES module: each such require becomes a small module
 * importing the `node:` built-in, as Wrangler does under `nodejs_compat`.
 */
const requiredNodeBuiltins: Plugin = {
  name: 'required-node-builtins',
  setup(build) {
    build.onResolve({ filter: NODE_BUILTIN }, (args) =>
      args.kind === 'require-call'
        ? { path: args.path.replace(/^node:/, ''), namespace: 'required-node-builtin' }
        : { path: `node:${args.path.replace(/^node:/, '')}`, external: true },
    );
    build.onLoad({ filter: /.*/, namespace: 'required-node-builtin' }, (args) => ({
      contents: `import builtin from 'node:${args.path}';\nmodule.exports = builtin;\n`,
      loader: 'js',
    }));
  },
};

/**
 * Bundles the worker into one ES module for workerd, resolving packages as Workers do.
 *
 * @example
 * ```ts
 * await bundleWorker('src/worker.ts', 'dist/worker.js');
 * ```
 */
export async function bundleWorker(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    external: ['node:*', 'cloudflare:*'],
    plugins: [requiredNodeBuiltins],
    logLevel: 'warning',
  });
}

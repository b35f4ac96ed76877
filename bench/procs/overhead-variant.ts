// One variant of scenario 1 in a process of its own, driven over IPC: it builds only its variant (its
// client, guard, breaker or policy), so the SDK's and the wrapper's functions see one caller and one
// option shape, and the heap and GC are its own, as in an app that uses that one wrapper.
// Run with --expose-gc (the parent asks for a collection at the start of each round).
import { childConfig, serveParent } from '../lib/ipc.js';
import { gc } from '../lib/profile.js';
import {
  chunkCost,
  variantContext,
  variantSpecs,
  type ChunkCost,
  type CoreModule,
  type UpstreamKey,
} from '../lib/overhead-variants.js';

export interface VariantConfig {
  upstream: UpstreamKey;
  variant: string;
  /** The baseline core's bundle (bench/lib/baseline.ts), for the "(before)" variants. */
  baselineUrl?: string;
}

export interface VariantReady {
  pid: number;
  /** Whether `gc()` is exposed (the child was started with --expose-gc). */
  gc: boolean;
}

const config = childConfig<VariantConfig>();
const oldCore = config.baselineUrl ? ((await import(config.baselineUrl)) as CoreModule) : undefined;
const spec = variantSpecs(config.upstream, oldCore !== undefined).find((v) => v.name === config.variant);
if (!spec) throw new Error(`scenario 1 has no variant "${config.variant}" around ${config.upstream}`);
const ctx = variantContext(oldCore);
const once = spec.build(ctx);

serveParent(
  { pid: process.pid, gc: typeof (globalThis as { gc?: unknown }).gc === 'function' } satisfies VariantReady,
  {
    /** `calls` sequential awaited calls; their CPU time (this process's) and wall time in ns. */
    run: ({ calls }: { calls: number }): Promise<ChunkCost> => chunkCost(once, calls),
    gc: () => {
      gc();
      return null;
    },
  },
  () => ctx.close(),
);

import type { Fault, FaultInput } from './fault.js';
import { normalizeFault } from './fault.js';
import type { FakeAnthropicBehaviour, ResolvedBehaviour } from './options.js';
import { resolveBehaviour } from './options.js';
import { createPrng } from './prng.js';

/**
 * Chooses the fault of each request that carries no `x-fake-fault` header: the queued script first,
 * then the seeded random rate.
 *
 * @example
 * ```ts
 * const source = createFaultSource(DEFAULT_BEHAVIOUR);
 * source.enqueue([529, 'ok']);
 * source.next(); // { kind: 'status', status: 529 }
 * ```
 */
export type FaultSource = {
  /** Appends faults to the script; validates them all before adding any. */
  enqueue(faults: readonly FaultInput[]): void;
  /** Changes the behaviour; a new `seed` restarts the random sequence. */
  setDefault(partial: FakeAnthropicBehaviour): void;
  /** Empties the script and restores the initial behaviour and seed. */
  reset(): void;
  /** The current behaviour. */
  behaviour(): ResolvedBehaviour;
  /**
   * Advances the random sequence and returns the fault for the next request. `hasHeaderFault` skips the
   * script (the header wins and the script waits for the next request) but still advances the sequence.
   */
  next(hasHeaderFault: boolean): Fault | undefined;
};

/**
 * Creates a {@link FaultSource}.
 *
 * @param initial - the behaviour to start from and to restore on `reset()`
 * @returns the fault source
 * @example
 * ```ts
 * const source = createFaultSource(resolveOptions({ faultRate: 0.5, seed: 3 }).behaviour);
 * ```
 */
export function createFaultSource(initial: ResolvedBehaviour): FaultSource {
  let current = initial;
  let random = createPrng(initial.seed);
  let script: (Fault | undefined)[] = [];

  return {
    enqueue(faults) {
      const normalized = faults.map((f, i) => normalizeFault(f, `enqueue() argument ${i + 1}`));
      script.push(...normalized);
    },
    setDefault(partial) {
      current = resolveBehaviour(current, partial, 'setDefault()');
      if (partial.seed !== undefined) random = createPrng(current.seed);
    },
    reset() {
      current = initial;
      random = createPrng(initial.seed);
      script = [];
    },
    behaviour: () => current,
    next(hasHeaderFault) {
      // Two draws for every request, whatever wins, so request k's random outcome depends only on the
      // seed and k: adding a header or a script entry elsewhere does not reshuffle later requests.
      const hit = random() < current.faultRate;
      const pick = current.faults[Math.floor(random() * current.faults.length)];
      if (hasHeaderFault) return undefined;
      if (script.length > 0) return script.shift();
      return hit ? pick : undefined;
    },
  };
}

/**
 * A seeded pseudo-random generator (mulberry32): the same seed always yields the same sequence, so a
 * random fault rate is reproducible run to run. Returns numbers in [0, 1).
 *
 * @param seed - any integer (fractions are truncated)
 * @returns a function producing the next number of the sequence
 * @example
 * ```ts
 * const next = createPrng(1);
 * next(); // always the same first value for seed 1
 * ```
 */
export function createPrng(seed: number): () => number {
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `full`: the documented run (about 10 min on 2 cores). `quick`: about 1 min. `smoke`: seconds, for the test. */
export type Profile = 'full' | 'quick' | 'smoke';

/** The value for `profile`; `smoke` falls back to `quick`. */
export function sized<T>(profile: Profile, values: { full: T; quick: T; smoke?: T }): T {
  if (profile === 'smoke') return values.smoke ?? values.quick;
  return values[profile];
}

/** Round `r`'s order of `variants`: rotated every round so no variant always runs first (ABAB..., BABA...). */
export function rotated<T>(variants: readonly T[], round: number): T[] {
  const shift = round % variants.length;
  return [...variants.slice(shift), ...variants.slice(0, shift)];
}

export const gc = (): void => (globalThis as { gc?: () => void }).gc?.();

// FNV-1a, 64 bits, computed on four 16-bit limbs so every intermediate stays an exact integer in a double.
const OFFSET_BASIS = [0x2325, 0x8422, 0x9ce4, 0xcbf2] as const; // 0xcbf29ce484222325, least significant first
const PRIME_LOW = 0x1b3; // the prime is 2^40 + 0x1b3

/**
 * A stable, short id for the client behind an API key: `client_` and the 64-bit FNV-1a hash of the key
 * (its UTF-16 code units; for an ASCII key that is the standard byte-wise FNV-1a 64) in 16 hex digits.
 *
 * It only has to tell keys apart in `status()`, logs and per-client rate-limit state, synchronously and on
 * every request, which Web Crypto's async digest cannot. FNV is not a cryptographic hash, but the id does not
 * give the key away: 64 bits cannot hold a key of 100+ characters, and finding a key that hashes to a given id
 * is no step towards the real one, whose randomness is far beyond guessing. Collisions between two keys of one
 * deployment are negligible (about n^2 / 2^65).
 *
 * @param apiKey - The key, never stored.
 * @returns `client_` followed by 16 lowercase hex digits.
 *
 * @example
 * ```ts
 * clientIdOf('sk-ant-api03-...'); // 'client_9d1c3b6f0a7e4d52' (for example)
 * clientIdOf('a'); // 'client_af63dc4c8601ec8c'
 * ```
 */
export function clientIdOf(apiKey: string): string {
  let [h0, h1, h2, h3] = OFFSET_BASIS as readonly number[] as [number, number, number, number];
  for (let i = 0; i < apiKey.length; i++) {
    h0 ^= apiKey.charCodeAt(i);
    // h * prime = h * 0x1b3 + (h << 40), modulo 2^64.
    let t0 = h0 * PRIME_LOW;
    let t1 = h1 * PRIME_LOW;
    let t2 = h2 * PRIME_LOW + (h0 << 8);
    let t3 = h3 * PRIME_LOW + (h1 << 8);
    t1 += t0 >>> 16;
    t0 &= 0xffff;
    t2 += t1 >>> 16;
    t1 &= 0xffff;
    t3 += t2 >>> 16;
    t2 &= 0xffff;
    h0 = t0;
    h1 = t1;
    h2 = t2;
    h3 = t3 & 0xffff;
  }
  return `client_${hex(h3)}${hex(h2)}${hex(h1)}${hex(h0)}`;
}

function hex(limb: number): string {
  return limb.toString(16).padStart(4, '0');
}

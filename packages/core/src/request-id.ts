const VALID_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;
// 64 symbols so one random byte maps to one symbol without modulo bias (256 % 64 === 0).
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ALPHABET_CODES = Uint8Array.from(ALPHABET, (symbol) => symbol.charCodeAt(0));
const ID_PREFIX = 'cg_';
const ID_LENGTH = 24; // 144 random bits, more than a UUID's 122
const POOL_IDS = 128; // ids per getRandomValues call, amortizing its cost

/**
 * Checks that an incoming correlation id is safe to echo into headers and logs: 1-128 of `A-Z a-z 0-9 . _ -`.
 *
 * @param value - Candidate id, e.g. the `x-request-id` request header.
 * @returns True when the id can be reused as is.
 *
 * @example
 * ```ts
 * isValidRequestId('req_01HX'); // true
 * isValidRequestId('a b\r\nx: y'); // false
 * ```
 */
export function isValidRequestId(value: string | null | undefined): value is string {
  return typeof value === 'string' && VALID_REQUEST_ID.test(value);
}

/**
 * Creates a generator of ids like `cg_` + 24 URL-safe characters.
 *
 * By default the characters come from `crypto.getRandomValues`, drawn in pooled batches so the cost per id is a
 * few string appends. Pass `random` (values in [0, 1)) for deterministic ids in tests; it is not meant to be secure.
 *
 * @param random - Optional injected randomness.
 * @returns A function returning a fresh id on each call.
 *
 * @example
 * ```ts
 * const nextId = createRequestIdGenerator();
 * nextId(); // e.g. 'cg_Jx3-_k0QmZ8aPq2LwE7bYt1c'
 * ```
 */
export function createRequestIdGenerator(random?: () => number): () => string {
  if (random !== undefined) {
    if (typeof random !== 'function') throw new TypeError('createRequestIdGenerator: random must be a function');
    return () => {
      let id = ID_PREFIX;
      // `& 63` truncates and wraps, so random() === 1 or NaN still yields a valid symbol.
      for (let i = 0; i < ID_LENGTH; i++) id += ALPHABET[(random() * 64) & 63]!;
      return id;
    };
  }
  const pool = new Uint8Array(ID_LENGTH * POOL_IDS);
  let offset = pool.length; // empty: filled on first use, not at construction
  // The id's character codes, prefix included, made into one flat string at once (appending 24
  // characters one by one builds 24 strings, and a rope that is flattened again when the id is used).
  const codes: number[] = Array.from(ID_PREFIX, (symbol) => symbol.charCodeAt(0));
  for (let i = 0; i < ID_LENGTH; i++) codes.push(0);
  return () => {
    if (offset === pool.length) {
      globalThis.crypto.getRandomValues(pool);
      offset = 0;
    }
    for (let i = ID_PREFIX.length; i < codes.length; i++) codes[i] = ALPHABET_CODES[pool[offset++]! & 63]!;
    return String.fromCharCode.apply(null, codes);
  };
}

/**
 * Reuses a valid incoming id so logs correlate across services, and otherwise generates a fresh one.
 *
 * @param incoming - Id received from the caller, if any.
 * @param generate - Id source, e.g. from {@link createRequestIdGenerator}.
 * @returns `incoming` when {@link isValidRequestId} accepts it, else `generate()`.
 *
 * @example
 * ```ts
 * const nextId = createRequestIdGenerator();
 * const id = resolveRequestId(request.headers.get('x-request-id'), nextId);
 * ```
 */
export function resolveRequestId(incoming: string | null | undefined, generate: () => string): string {
  return isValidRequestId(incoming) ? incoming : generate();
}

// Finds configured secrets in upstream-originated text, in the encodings a hostile or careless
// upstream may echo them in. Runs on error paths and on a few header values only, so it favours
// coverage over speed, but stays linear in the text.
//
// The text is first reduced to a canonical form: `%XX` decoded, ASCII letters lower-cased, and
// everything but ASCII letters and digits dropped (with a map back to the original offsets). Each
// secret is reduced the same way, along with its reversal, its hex and its base64 (three byte
// alignments, so it is found inside a larger base64 blob too; base64url collapses to the same
// canonical text). Any run of FRAGMENT_CHARS canonical characters of those needles is a hit, which
// catches the exact, upper-, lower- and mixed-case, spaced or otherwise separated, percent-encoded,
// reversed, hex, base64 and base64url forms, and truncated copies of any of them.

/** Canonical characters in a row that identify a secret: 12 random base62 characters are ~71 bits. */
const FRAGMENT_CHARS = 12;
/** Shorter secrets (canonically) are matched only exactly: their fragments would match ordinary text. */
const MIN_FUZZY_CHARS = 8;
/** Anything shaped like an Anthropic key, configured or not (`-` possibly percent-encoded), any case. */
const ANTHROPIC_KEY = /sk(?:-|%2d)ant(?:-|%2d)[a-z0-9_%-]+/gi;
const ANTHROPIC_KEY_START = /sk(?:-|%2d)ant(?:-|%2d)/i;
/** {@link ANTHROPIC_KEY} for a yes or no (a global regex's `test` would keep state between calls). */
const ANTHROPIC_KEY_ONE = /sk(?:-|%2d)ant(?:-|%2d)[a-z0-9_%-]+/i;

interface Matcher {
  /** The secrets as given, for exact (case-sensitive) matches. */
  readonly exact: readonly string[];
  /** Every FRAGMENT_CHARS-long run of every needle; true for base64 needles, whose hits are widened. */
  readonly fragments: ReadonlyMap<string, boolean>;
  /** Needles shorter than FRAGMENT_CHARS (but at least MIN_FUZZY_CHARS), matched whole, and whether to widen. */
  readonly wholes: readonly (readonly [needle: string, widen: boolean])[];
  /** {@link windowHash} of every fragment: {@link containsSecret} slides a hash, not a string, over the text. */
  readonly fragmentHashes: ReadonlySet<number>;
}

interface Canonical {
  readonly text: string;
  /** Original offset where each canonical character starts. */
  readonly from: Int32Array;
  /** Original offset just past each canonical character. */
  readonly to: Int32Array;
}

/** A half-open range `[start, end)` of the original text. */
export type TextRange = readonly [start: number, end: number];

// The guard passes the same array on every call; other callers pay the (small) build each time.
const matchers = new WeakMap<readonly string[], Matcher>();

/**
 * Finds every place where a secret, in any of the encodings above, or an Anthropic-shaped key
 * appears in `text`.
 *
 * @param text - Upstream-originated text (an error message, a header value).
 * @param secrets - The configured secrets, such as the API key in use. Empty strings are ignored.
 * @returns Sorted, non-overlapping ranges of `text` to hide; empty when there is nothing to hide.
 *
 * @example
 * ```ts
 * findSecrets('key: ' + btoa('sk-ant-api03-abcdefghijkl'), ['sk-ant-api03-abcdefghijkl']); // [[5, 41]]
 * ```
 *
 * @internal
 */
export function findSecrets(text: string, secrets: readonly string[]): TextRange[] {
  const ranges: [number, number][] = [];
  // The plain test first: most texts have no such key, and matchAll's iterator costs more than the test.
  if (ANTHROPIC_KEY_START.test(text)) {
    for (const match of text.matchAll(ANTHROPIC_KEY)) ranges.push([match.index, match.index + match[0].length]);
  }
  if (secrets.length > 0) {
    const matcher = matcherFor(secrets);
    for (const secret of matcher.exact) {
      for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + 1)) {
        ranges.push([at, at + secret.length]);
      }
    }
    if (matcher.fragments.size > 0 || matcher.wholes.length > 0) findCanonical(text, matcher, ranges);
  }
  return merge(ranges);
}

/**
 * Whether `text` holds a secret in any form {@link findSecrets} knows, or an Anthropic-shaped key.
 *
 * @param text - Upstream-originated text, e.g. a header value.
 * @param secrets - The configured secrets.
 * @returns True when the text must not be passed on.
 *
 * @example
 * ```ts
 * containsSecret('req_' + 'mykey0123456789'.split('').reverse().join(''), ['mykey0123456789']); // true
 * ```
 *
 * @internal
 */
export function containsSecret(text: string, secrets: readonly string[]): boolean {
  // findSecrets' search, stopping at the first hit and keeping no offsets: it runs on every answer's
  // request id, where building ranges, offset maps or a canonical string for a clean id is all waste.
  if (ANTHROPIC_KEY_START.test(text) && ANTHROPIC_KEY_ONE.test(text)) return true;
  if (secrets.length === 0) return false;
  const matcher = matcherFor(secrets);
  for (const secret of matcher.exact) if (text.includes(secret)) return true;
  if (matcher.fragments.size === 0 && matcher.wholes.length === 0) return false;
  const length = canonicalCodes(text);
  for (const [whole] of matcher.wholes) if (includesCodes(codeBuffer, length, whole)) return true;
  return matcher.fragments.size > 0 && hasFragment(codeBuffer, length, matcher);
}

/**
 * Whether a FRAGMENT_CHARS run of the first `length` canonical `codes` is a fragment: a rolling hash over the codes,
 * checked against the fragments' hashes; the string is built only on a hash hit.
 */
function hasFragment(codes: Uint8Array, length: number, matcher: Matcher): boolean {
  if (length < FRAGMENT_CHARS) return false;
  let hash = 0;
  for (let i = 0; i < FRAGMENT_CHARS; i++) hash = (Math.imul(hash, HASH_BASE) + codes[i]!) & HASH_MASK;
  for (let start = 0; ; start++) {
    if (matcher.fragmentHashes.has(hash)) {
      const fragment = String.fromCharCode(...codes.subarray(start, start + FRAGMENT_CHARS));
      if (matcher.fragments.has(fragment)) return true;
    }
    const next = start + FRAGMENT_CHARS;
    if (next >= length) return false;
    hash = (Math.imul(hash - Math.imul(codes[start]!, HASH_DROP), HASH_BASE) + codes[next]!) & HASH_MASK;
  }
}

/** Whether the first `length` canonical `codes` hold `needle` (canonical too), compared code by code. */
function includesCodes(codes: Uint8Array, length: number, needle: string): boolean {
  const first = needle.charCodeAt(0);
  for (let start = 0; start + needle.length <= length; start++) {
    if (codes[start] !== first) continue;
    let i = 1;
    while (i < needle.length && codes[start + i] === needle.charCodeAt(i)) i++;
    if (i === needle.length) return true;
  }
  return false;
}

const HASH_BASE = 131;
/** 30 bits: the hashes stay small integers, which a Set holds and compares without allocating. */
const HASH_MASK = 0x3fffffff;
/** HASH_BASE ** (FRAGMENT_CHARS - 1), mod 2 ** 32: the weight of the character leaving the window. */
const HASH_DROP = (() => {
  let weight = 1;
  for (let i = 1; i < FRAGMENT_CHARS; i++) weight = Math.imul(weight, HASH_BASE);
  return weight;
})();

/** The rolling hash of one whole window (a fragment), as {@link hasFragment} computes it. */
function windowHash(fragment: string): number {
  let hash = 0;
  for (let i = 0; i < fragment.length; i++) hash = (Math.imul(hash, HASH_BASE) + fragment.charCodeAt(i)) & HASH_MASK;
  return hash;
}

// One buffer for every call: containsSecret runs synchronously and keeps nothing of it.
let codeBuffer = new Uint8Array(256);

/**
 * Writes `text`'s canonical characters to `codeBuffer` and returns how many; with `from` and `to`, also
 * where each one starts and ends in `text`.
 */
function canonicalCodes(text: string, from?: Int32Array, to?: Int32Array): number {
  if (codeBuffer.length < text.length) codeBuffer = new Uint8Array(text.length * 2);
  let n = 0;
  for (let i = 0; i < text.length;) {
    let code = text.charCodeAt(i);
    let next = i + 1;
    if (code === 0x25 && i + 2 < text.length) {
      const high = hexValue(text.charCodeAt(i + 1));
      const low = hexValue(text.charCodeAt(i + 2));
      if (high >= 0 && low >= 0) {
        code = high * 16 + low;
        next = i + 3;
      }
    }
    const folded = foldAlphanumeric(code);
    if (folded >= 0) {
      if (from !== undefined && to !== undefined) {
        from[n] = i;
        to[n] = next;
      }
      codeBuffer[n++] = folded;
    }
    i = next;
  }
  return n;
}

function findCanonical(text: string, matcher: Matcher, ranges: [number, number][]): void {
  const canonical = canonicalize(text);
  const found: [number, number, boolean][] = [];
  const { fragments, wholes } = matcher;
  if (fragments.size > 0) {
    for (let i = 0; i + FRAGMENT_CHARS <= canonical.text.length; i++) {
      const widen = fragments.get(canonical.text.slice(i, i + FRAGMENT_CHARS));
      if (widen !== undefined) found.push([i, i + FRAGMENT_CHARS, widen]);
    }
  }
  for (const [whole, widen] of wholes) {
    for (let at = canonical.text.indexOf(whole); at >= 0; at = canonical.text.indexOf(whole, at + 1)) {
      found.push([at, at + whole.length, widen]);
    }
  }
  for (const [start, end, widen] of found) {
    let from = canonical.from[start]!;
    let to = canonical.to[end - 1]!;
    if (widen) {
      // A base64 core leaves the characters that mix its bits with its neighbours' (up to 2 before, 2 after)
      // and the padding: hide them too, so nothing of the encoded secret is left beside the redaction.
      for (let n = 0; n < 2 && from > 0 && isBase64Char(text.charCodeAt(from - 1)); n++) from -= 1;
      for (let n = 0; n < 2 && to < text.length && isBase64Char(text.charCodeAt(to)); n++) to += 1;
      for (let n = 0; n < 2 && text.charCodeAt(to) === 0x3d; n++) to += 1;
    }
    ranges.push([from, to]);
  }
}

/** Characters of base64 and base64url (padding aside): `A-Z a-z 0-9 + / - _`. */
function isBase64Char(code: number): boolean {
  return foldAlphanumeric(code) >= 0 || code === 0x2b || code === 0x2f || code === 0x2d || code === 0x5f;
}

function matcherFor(secrets: readonly string[]): Matcher {
  const cached = matchers.get(secrets);
  if (cached) return cached;
  const exact: string[] = [];
  const fragments = new Map<string, boolean>();
  const wholes: [string, boolean][] = [];
  for (const secret of secrets) {
    if (!secret) continue;
    exact.push(secret);
    const plain = canonicalize(secret).text;
    if (plain.length < MIN_FUZZY_CHARS) continue;
    const bytes = new TextEncoder().encode(secret);
    const needles: [string, boolean][] = [
      [plain, false],
      [[...plain].reverse().join(''), false],
      [hex(bytes), false],
      ...base64Cores(bytes).map((core): [string, boolean] => [core, true]),
    ];
    for (const [needle, widen] of needles) {
      if (needle.length >= FRAGMENT_CHARS) {
        for (let i = 0; i + FRAGMENT_CHARS <= needle.length; i++) {
          const fragment = needle.slice(i, i + FRAGMENT_CHARS);
          fragments.set(fragment, widen || fragments.get(fragment) === true);
        }
      } else if (needle.length >= MIN_FUZZY_CHARS) {
        wholes.push([needle, widen]);
      }
    }
  }
  const fragmentHashes = new Set<number>();
  for (const fragment of fragments.keys()) fragmentHashes.add(windowHash(fragment));
  const matcher: Matcher = { exact, fragments, wholes, fragmentHashes };
  matchers.set(secrets, matcher);
  return matcher;
}

/** `text` in canonical form, with the map back to its offsets. */
function canonicalize(text: string): Canonical {
  const from = new Int32Array(text.length);
  const to = new Int32Array(text.length);
  const length = canonicalCodes(text, from, to);
  // ASCII letters and digits only: their bytes decode as themselves.
  return { text: ASCII.decode(codeBuffer.subarray(0, length)), from, to };
}

const ASCII = new TextDecoder();

/** ASCII digits and lower-case letters as they are, upper-case letters lowered, anything else -1. */
function foldAlphanumeric(code: number): number {
  if ((code >= 0x30 && code <= 0x39) || (code >= 0x61 && code <= 0x7a)) return code;
  if (code >= 0x41 && code <= 0x5a) return code + 0x20;
  return -1;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/**
 * The base64 characters that depend on the secret's bytes alone, for each of the three alignments
 * the secret can have inside a longer encoded text, in canonical form.
 */
function base64Cores(bytes: Uint8Array): string[] {
  const cores: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    let binary = '\0'.repeat(shift);
    for (const byte of bytes) binary += String.fromCharCode(byte);
    const encoded = btoa(binary);
    const start = Math.ceil((shift * 8) / 6);
    const end = Math.floor(((shift + bytes.length) * 8) / 6);
    cores.push(canonicalize(encoded.slice(start, end)).text);
  }
  return cores;
}

function merge(ranges: [number, number][]): TextRange[] {
  if (ranges.length <= 1) return ranges;
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [ranges[0]!];
  for (const range of ranges.slice(1)) {
    const last = merged[merged.length - 1]!;
    if (range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push(range);
  }
  return merged;
}

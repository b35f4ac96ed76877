import { describe, expect, it } from 'vitest';
import { containsSecret, findSecrets } from './secret-scan.js';

const KEY = 'sk-ant-api03-Hj5Ww2Ee8Rr1Tt4Yy7Qp0Zx3Vb6Nm9Lk2-Jh5Gf8Dd1~Ss4AA';

describe('findSecrets', () => {
  it('returns nothing for text without a secret', () => {
    expect(findSecrets('Overloaded: please retry later', [KEY])).toEqual([]);
    expect(findSecrets('', [KEY])).toEqual([]);
  });

  it('finds an exact secret', () => {
    expect(findSecrets(`a ${KEY} b`, [KEY])).toEqual([[2, 2 + KEY.length]]);
  });

  it('maps a percent-encoded hit back to the original offsets', () => {
    const encoded = [...Buffer.from(KEY)].map((byte) => `%${byte.toString(16)}`).join('');
    expect(findSecrets(`<${encoded}>`, [KEY])).toEqual([[1, 1 + encoded.length]]);
  });

  it('widens a base64 hit to the whole token, padding included', () => {
    const encoded = Buffer.from(KEY).toString('base64');
    expect(encoded.endsWith('=')).toBe(true);
    expect(findSecrets(`key: ${encoded}.`, [KEY])).toEqual([[5, 5 + encoded.length]]);
  });

  it('finds the key in each base64 alignment inside a longer blob', () => {
    for (const prefix of ['', 'a', 'ab']) {
      const blob = Buffer.from(`${prefix}${KEY}!`).toString('base64');
      expect(containsSecret(blob, [KEY]), prefix).toBe(true);
    }
  });

  it('merges overlapping hits of several secrets', () => {
    const other = 'corpToken9Hj5Ww2Ee8Rr1Tt4Yy7';
    expect(findSecrets(`x ${KEY}${other} y`, [KEY, other])).toEqual([[2, 2 + KEY.length + other.length]]);
  });

  it('flags a run of 12 characters of a secret, not 11', () => {
    expect(containsSecret('id Hj5Ww2Ee8Rr1 end', [KEY])).toBe(true);
    expect(containsSecret('id Hj5Ww2Ee8Rr end', [KEY])).toBe(false);
  });

  it('leaves the characters around a plain hit alone', () => {
    expect(findSecrets(`x${KEY}y`, [KEY])).toEqual([[1, 1 + KEY.length]]);
  });

  it('ignores empty secrets', () => {
    expect(findSecrets('anything', ['', ''])).toEqual([]);
  });

  it('catches an Anthropic-shaped key that is not configured, in any case or percent-encoded', () => {
    expect(containsSecret('SK-ANT-API03-XYZ', [])).toBe(true);
    expect(containsSecret('sk%2Dant%2Dapi03', [])).toBe(true);
    expect(containsSecret('task-antelope', [])).toBe(false);
  });

  it('containsSecret answers as findSecrets does, on clean text and every encoding of a secret', () => {
    const short = 'short7key';
    const encodings = (secret: string) => [
      secret,
      secret.toUpperCase(),
      secret.split('').reverse().join(''),
      secret.split('').join(' '),
      [...Buffer.from(secret)].map((byte) => `%${byte.toString(16)}`).join(''),
      Buffer.from(secret).toString('hex'),
      Buffer.from(secret).toString('base64'),
      Buffer.from(secret).toString('base64url'),
      secret.slice(13, 25),
      secret.slice(13, 24),
    ];
    const texts = [
      '',
      'req_011CVx7gP5nQ2tYz9aBcDeFg',
      'msg_01XFDUDYJgAACzvnptvVoYEL',
      'Overloaded: please retry later',
      'sk-ant-',
      ...encodings(KEY).map((encoded) => `x ${encoded} y`),
      // At the very start and the very end of the text: the first and the last window of the search.
      ...encodings(KEY),
      ...encodings(KEY).map((encoded) => `req_${encoded}`),
      // Longer than the search's first buffer (256 characters).
      `${'Ab1-'.repeat(80)}${KEY.slice(20, 32)}`,
      'Ab1-'.repeat(80),
      ...encodings(short).map((encoded) => `id=${encoded}`),
    ];
    for (const text of texts) {
      for (const secrets of [[KEY], [short], [KEY, short], []]) {
        expect(containsSecret(text, secrets), `${text} / ${secrets.length}`).toBe(
          findSecrets(text, secrets).length > 0,
        );
      }
    }
    // Both answers occur, so the comparison covers hits and misses.
    expect(texts.filter((text) => containsSecret(text, [KEY])).length).toBeGreaterThan(5);
    expect(texts.filter((text) => !containsSecret(text, [KEY])).length).toBeGreaterThan(3);
  });
});

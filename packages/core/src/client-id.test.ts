import { describe, expect, it } from 'vitest';
import { clientIdOf } from './client-id.js';

describe('clientIdOf', () => {
  it('is FNV-1a 64 for ASCII keys (published test vectors)', () => {
    expect(clientIdOf('')).toBe('client_cbf29ce484222325');
    expect(clientIdOf('a')).toBe('client_af63dc4c8601ec8c');
    expect(clientIdOf('foobar')).toBe('client_85944171f73967e8');
  });

  it('is stable, tells keys apart and holds no part of the key', () => {
    const key = 'sk-ant-api03-' + 'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789'.repeat(3);
    expect(clientIdOf(key)).toBe(clientIdOf(key));
    expect(clientIdOf(key)).toMatch(/^client_[0-9a-f]{16}$/);
    expect(clientIdOf(key)).not.toContain('sk-ant');
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) ids.add(clientIdOf(`${key}${i}`));
    expect(ids.size).toBe(10_000);
    expect(clientIdOf(`${key}x`)).not.toBe(clientIdOf(`${key}y`));
  });

  it('reads every UTF-16 code unit', () => {
    expect(clientIdOf('clé')).not.toBe(clientIdOf('cle'));
    expect(clientIdOf('\u{1f511}')).toMatch(/^client_[0-9a-f]{16}$/);
  });
});

import { describe, expect, it, vi } from 'vitest';
import { createRequestIdGenerator, isValidRequestId, resolveRequestId } from './request-id.js';

describe('isValidRequestId', () => {
  it.each(['a', 'req_01HXYZ', 'A.b-c_9', 'x'.repeat(128)])('accepts %j', (value) => {
    expect(isValidRequestId(value)).toBe(true);
  });

  it.each([null, undefined, '', 'x'.repeat(129), 'a b', 'a\r\nx-evil: 1', 'é', 'a/b', 'a:b', 'id\n'])(
    'rejects %j',
    (value) => {
      expect(isValidRequestId(value)).toBe(false);
    },
  );
});

describe('createRequestIdGenerator', () => {
  it('produces cg_ plus 24 url-safe characters by default', () => {
    const next = createRequestIdGenerator();
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = next();
      expect(id).toMatch(/^cg_[A-Za-z0-9_-]{24}$/);
      expect(isValidRequestId(id)).toBe(true);
      ids.add(id);
    }
    expect(ids.size).toBe(1000);
  });

  it('draws randomness in pooled batches', () => {
    const spy = vi.spyOn(globalThis.crypto, 'getRandomValues');
    const next = createRequestIdGenerator();
    expect(spy).not.toHaveBeenCalled();
    for (let i = 0; i < 128; i++) next();
    expect(spy).toHaveBeenCalledTimes(1);
    next();
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('is deterministic with an injected random', () => {
    expect(createRequestIdGenerator(() => 0)()).toBe(`cg_${'A'.repeat(24)}`);
    expect(createRequestIdGenerator(() => 0.999)()).toBe(`cg_${'_'.repeat(24)}`);
    let i = 0;
    const next = createRequestIdGenerator(() => (i++ % 64) / 64);
    expect(next()).toBe('cg_ABCDEFGHIJKLMNOPQRSTUVWX');
    expect(next()).toBe('cg_YZabcdefghijklmnopqrstuv');
  });

  it('keeps ids valid when random misbehaves', () => {
    for (const value of [1, Number.NaN, -0.5, 5]) {
      expect(isValidRequestId(createRequestIdGenerator(() => value)())).toBe(true);
    }
  });

  it('rejects a random that is not a function', () => {
    expect(() => createRequestIdGenerator(1 as unknown as () => number)).toThrow(TypeError);
  });
});

describe('resolveRequestId', () => {
  it('reuses a valid incoming id without generating one', () => {
    const generate = vi.fn(() => 'cg_new');
    expect(resolveRequestId('req_abc', generate)).toBe('req_abc');
    expect(generate).not.toHaveBeenCalled();
  });

  it.each([null, undefined, '', 'bad id', 'x'.repeat(200)])('generates a new id for %j', (incoming) => {
    expect(resolveRequestId(incoming, () => 'cg_new')).toBe('cg_new');
  });
});

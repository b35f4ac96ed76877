import { describe, expect, it } from 'vitest';
import { sdkOptions } from './sdk-options.js';

describe('sdkOptions', () => {
  it("gives the attempt's signal and timeout, and maxRetries 0", () => {
    const signal = new AbortController().signal;
    expect(sdkOptions({ signal, timeout: 1_234 })).toEqual({ signal, timeout: 1_234, maxRetries: 0 });
  });

  it("keeps options of the caller's own, but never its timeout or retries", () => {
    const signal = new AbortController().signal;
    const options = sdkOptions({ signal, timeout: 500 }, { headers: { 'x-job': 'a' }, timeout: 60_000, maxRetries: 5 });
    expect(options).toEqual({ headers: { 'x-job': 'a' }, signal, timeout: 500, maxRetries: 0 });
  });

  it("aborts on the attempt's signal or the caller's own, whichever aborts first", () => {
    for (const first of ['attempt', 'caller'] as const) {
      const attempt = new AbortController();
      const caller = new AbortController();
      const { signal } = sdkOptions({ signal: attempt.signal, timeout: 500 }, { signal: caller.signal });
      expect(signal.aborted).toBe(false);
      (first === 'attempt' ? attempt : caller).abort(new Error(first));
      expect(signal.aborted).toBe(true);
      expect((signal.reason as Error).message).toBe(first);
    }
  });
});

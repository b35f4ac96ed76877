import { describe, expect, it } from 'vitest';
import { GuardedAttemptSpan, startRequestSpan, type AttemptSpan } from './instrumentation.js';

const span = (run: AttemptSpan['run']): AttemptSpan => ({ run, answer: () => {}, end: () => {} });

describe('GuardedAttemptSpan', () => {
  it('runs fn once inside the span and hands back what it returned', () => {
    let inside = false;
    const guarded = new GuardedAttemptSpan(
      span((fn) => {
        inside = true;
        return fn();
      }),
    );
    let calls = 0;
    expect(guarded.run(() => (calls += 1))).toBe(1);
    expect(inside).toBe(true);
    expect(calls).toBe(1);
  });

  it("rethrows fn's own error, and runs fn anyway when the span throws before it", () => {
    const guarded = new GuardedAttemptSpan(span((fn) => fn()));
    expect(() =>
      guarded.run(() => {
        throw new Error('the attempt failed');
      }),
    ).toThrow('the attempt failed');
    let calls = 0;
    const broken = new GuardedAttemptSpan(
      span(() => {
        throw new Error('instrumentation');
      }),
    );
    expect(broken.run(() => (calls += 1))).toBe(1);
    expect(calls).toBe(1);
  });

  it("keeps fn's value when the span throws after running it (the request is never started twice)", () => {
    let calls = 0;
    const broken = new GuardedAttemptSpan(
      span((fn) => {
        fn();
        throw new Error('instrumentation');
      }),
    );
    expect(broken.run(() => (calls += 1))).toBe(1);
    expect(calls).toBe(1);
  });

  it('ends once, and swallows what answer and end throw', () => {
    let ends = 0;
    const guarded = new GuardedAttemptSpan({
      run: (fn) => fn(),
      answer: () => {
        throw new Error('instrumentation');
      },
      end: () => {
        ends += 1;
        throw new Error('instrumentation');
      },
    });
    expect(() => guarded.answer({ status: 200 })).not.toThrow();
    expect(() => guarded.end()).not.toThrow();
    guarded.end({ kind: 'http', errorType: 'api_error', status: 500 });
    expect(ends).toBe(1);
  });
});

describe('startRequestSpan', () => {
  it('gives no span when the instrumentation throws', () => {
    const headers = new Headers();
    const thrown = startRequestSpan(
      {
        startRequest: () => {
          throw new Error('instrumentation');
        },
      },
      { route: 'chat', requestId: 'r', headers },
    );
    expect(thrown).toBeUndefined();
  });
});

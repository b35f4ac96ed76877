import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { createClaudeGuard } from './guard.js';
import type { GuardLogger } from './logger.js';
import { ClaudeGuardError } from './guard-error.js';

// guard.reportError: the one place an error the guard answered with its sanitized 500 is logged.

const KEY = 'sk-test-0123456789abcdefghij';

interface Line {
  level: string;
  record: { route?: string; requestId?: string; err: { type: string; message: string; stack?: string } };
  message: string | undefined;
}

function guardWith(levels: readonly ('info' | 'warn' | 'error')[]) {
  const lines: Line[] = [];
  const logger = Object.fromEntries(
    levels.map((level) => [
      level,
      (record: object, message?: string) => lines.push({ level, record: record as Line['record'], message }),
    ]),
  ) as unknown as GuardLogger;
  const guard = createClaudeGuard({ client: new Anthropic({ apiKey: KEY }), logger });
  return { guard, lines };
}

describe('guard.reportError', () => {
  it('logs a foreign error once, at error level, with its stack and the key redacted', () => {
    const { guard, lines } = guardWith(['info', 'warn', 'error']);
    const bug = new TypeError(`cannot read 'x' near ${KEY}`);
    guard.reportError(bug, { route: 'chat', requestId: 'cg_1' });
    guard.reportError(bug, { route: 'chat', requestId: 'cg_1' });
    expect(guard.errorResponse(bug).status).toBe(500);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line?.level).toBe('error');
    expect(line?.message).toBe('claude-guard unexpected error');
    expect(line?.record.route).toBe('chat');
    expect(line?.record.requestId).toBe('cg_1');
    expect(line?.record.err.type).toBe('TypeError');
    expect(line?.record.err.message).toBe("cannot read 'x' near [redacted]");
    expect(line?.record.err.stack).toMatch(/^TypeError: cannot read 'x' near \[redacted\]\n\s+at /);
    expect(JSON.stringify(lines)).not.toContain(KEY);
  });

  it("logs the cause behind the guard's own internal-error, and nothing for its other errors", () => {
    const { guard, lines } = guardWith(['info', 'error']);
    const bug = new RangeError('bad index');
    const internal = new ClaudeGuardError({
      status: 500,
      type: 'api_error',
      message: "Internal error in route 'job'",
      outcome: 'internal-error',
      cause: bug,
    });
    guard.reportError(internal);
    guard.reportError(bug);
    guard.reportError(
      new ClaudeGuardError({ status: 529, type: 'overloaded_error', message: 'x', outcome: 'upstream-error' }),
    );
    guard.errorResponse(
      new ClaudeGuardError({ status: 504, type: 'timeout_error', message: 'x', outcome: 'deadline-exceeded' }),
    );
    expect(lines.map((line) => [line.level, line.record.err.type])).toEqual([['error', 'RangeError']]);
  });

  it('falls back to warn, then info, on a logger without error', () => {
    const warnOnly = guardWith(['info', 'warn']);
    warnOnly.guard.reportError(new Error('a'));
    const infoOnly = guardWith(['info']);
    infoOnly.guard.reportError('a thrown string');
    expect(warnOnly.lines.map((line) => line.level)).toEqual(['warn']);
    expect(infoOnly.lines.map((line) => [line.level, line.record.err])).toEqual([
      ['info', { type: 'string', message: 'a thrown string' }],
    ]);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { jsonLogger } from './chat.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('jsonLogger', () => {
  it.each(['info', 'warn', 'error'] as const)('writes a %s line as one JSON line on stdout, level first', (level) => {
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: string) => lines.push(line));
    jsonLogger[level]?.({ route: 'chat', status: 529 }, 'claude-guard request');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`{"level":"${level}","msg":"claude-guard request","route":"chat","status":529}`);
  });
});

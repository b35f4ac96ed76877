import { DEFAULTS } from '@claude-guard/core';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** `| \`name\` | value | ... |` rows of the README's tables: name -> default cell. */
function optionRows(markdown: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of markdown.split('\n')) {
    const match = /^\|\s*`([A-Za-z.]+)`\s*\|\s*([^|]+?)\s*\|/.exec(line);
    if (match) rows.set(match[1]!, match[2]!.replace(/^`|`$/g, ''));
  }
  return rows;
}

function flatten(value: unknown, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) {
      for (const [k, v] of flatten(inner, prefix ? `${prefix}.${key}` : key)) out.set(k, v);
    }
  } else {
    out.set(prefix, value);
  }
  return out;
}

function render(value: unknown): string {
  if (value === undefined) return 'none';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'string') return String(value);
  return JSON.stringify(value);
}

describe('README option tables', () => {
  const rows = optionRows(readme);
  const defaults = flatten(DEFAULTS);

  it.each([...defaults.entries()])('documents %s with its real default', (name, value) => {
    expect(rows.get(name), `README has no row for \`${name}\``).toBe(render(value));
  });

  it('documents no option the code does not have', () => {
    const grouped = [...rows.keys()].filter((name) => name.includes('.') && name !== 'breaker.key');
    expect(grouped.filter((name) => !defaults.has(name))).toEqual([]);
  });
});

import { DEFAULTS } from '@claude-guard/core';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Each package's README is published alone, in its tarball: no relative link may lead out of it, every link into
// the repository must land on a file and a heading that exist, and the core's table of defaults must be the code's.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const REPO = 'https://github.com/claude-guard/claude-guard';
/** Every published package: each directory of packages/ with a package.json that is not private. */
const PACKAGES = readdirSync(join(ROOT, 'packages')).filter((name) => {
  const manifest = join(ROOT, 'packages', name, 'package.json');
  return existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { private?: boolean }).private !== true;
});

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Markdown link targets, code spans and fenced blocks left out. */
function links(markdown: string): string[] {
  const prose = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const prose = markdown.replace(/```[\s\S]*?```/g, '');
  for (const [, text] of prose.matchAll(/^#{1,6}\s+(.+?)\s*$/gm)) {
    const slug = text!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    out.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return out;
}

/** The repository file a link points into, and the anchor, or undefined for a link elsewhere. */
function intoRepository(link: string): { file: string; anchor: string | undefined } | undefined {
  const [base, anchor] = link.split('#') as [string, string | undefined];
  if (base === REPO || base === `${REPO}/`) return { file: 'README.md', anchor };
  const match = /^https:\/\/github\.com\/claude-guard\/claude-guard\/(?:tree|blob)\/main\/(.+)$/.exec(base);
  if (!match) return undefined;
  const path = match[1]!.replace(/\/$/, '');
  const isDir = existsSync(join(ROOT, path)) && statSync(join(ROOT, path)).isDirectory();
  return { file: isDir ? join(path, 'README.md') : path, anchor };
}

describe.each(PACKAGES)('packages/%s/README.md', (name) => {
  const path = `packages/${name}/README.md`;
  const readme = existsSync(join(ROOT, path)) ? read(path) : '';

  it('has only absolute links (or anchors of its own), and never sends readers to "the root README"', () => {
    expect(links(readme).filter((link) => !/^(https:\/\/|#)/.test(link))).toEqual([]);
    expect(readme).not.toMatch(/root README/i);
    const own = anchors(readme);
    expect(links(readme).filter((link) => link.startsWith('#') && !own.has(link.slice(1)))).toEqual([]);
  });

  it('links into the repository only to files and headings that exist', () => {
    const broken = links(readme).filter((link) => {
      const target = intoRepository(link);
      if (!target) return false;
      if (!existsSync(join(ROOT, target.file))) return true;
      return target.anchor !== undefined && !anchors(read(target.file)).has(target.anchor);
    });
    expect(broken).toEqual([]);
  });

  it('has an install command, a quick start and its limits', () => {
    expect(existsSync(join(ROOT, path)), `${path} is missing`).toBe(true);
    expect(readme).toMatch(/## Install\n\n```sh\nnpm install .*@claude-guard\//);
    expect(readme).toContain('## Quick start');
    expect(readme).toContain('## Limits');
  });
});

describe('packages/core/README.md options table', () => {
  const rows = new Map<string, string>();
  for (const [, option, value] of read('packages/core/README.md').matchAll(
    /^\|\s*`([A-Za-z.]+)`\s*\|\s*([^|]+?)\s*\|/gm,
  )) {
    rows.set(option!, value!.replace(/^`|`$/g, ''));
  }
  const defaults = new Map<string, unknown>();
  const flatten = (value: unknown, prefix: string): void => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key);
    } else defaults.set(prefix, value);
  };
  flatten(DEFAULTS, '');

  it.each([...defaults.entries()])('gives %s its real default', (option, value) => {
    expect(rows.get(option), `no row for \`${option}\``).toBe(
      value === undefined ? 'none' : typeof value === 'object' ? JSON.stringify(value) : String(value as string),
    );
  });

  it('has a row for every option of the root README, and none the root README lacks', () => {
    const root = new Set(
      [...read('README.md').matchAll(/^\|\s*`([A-Za-z.]+)`\s*\|/gm)].map((match) => match[1]!).filter(isOption),
    );
    expect([...rows.keys()].filter(isOption).sort()).toEqual([...root].sort());
  });
});

/** Option rows, not the other tables' first columns (exports, fault kinds). */
function isOption(name: string): boolean {
  return /^(deadline|retry|retryBudget|breaker|stream|proxy)\./.test(name) || ROOT_LEVEL.has(name);
}
const ROOT_LEVEL = new Set([
  'client',
  'requestIdHeader',
  'forwardUpstreamClientErrors',
  'logger',
  'logFormat',
  'onEvent',
  'clock',
  'random',
  'route',
  'fallback',
]);

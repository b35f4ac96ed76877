import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One fenced block of a README. */
export interface FencedBlock {
  /** The README, relative to the root (`README.md`, `packages/express/README.md`). */
  readme: string;
  /** The fence's info string (`ts`, `sh`, `json`, empty). */
  lang: string;
  /** The heading the block sits under (its text, without the `#`s). */
  heading: string;
  /** 1-based line of the block's first code line in the README. */
  line: number;
  code: string;
}

/**
 * Every README a user reads: the root's, each package's and each example's.
 *
 * @example
 * ```ts
 * readmes(); // ['README.md', 'packages/core/README.md', ...]
 * ```
 */
export function readmes(): string[] {
  const found = ['README.md'];
  for (const dir of ['packages', 'examples']) {
    for (const name of readdirSync(join(ROOT, dir)).sort()) {
      const path = `${dir}/${name}/README.md`;
      if (existsSync(join(ROOT, path))) found.push(path);
    }
  }
  return found;
}

/**
 * The fenced blocks of a README, in order (``` fences; a fence inside a block ends it, as in CommonMark).
 *
 * @param readme - Relative to the root.
 * @returns Its blocks.
 * @example
 * ```ts
 * fencedBlocks('README.md').filter((block) => block.lang === 'ts');
 * ```
 */
export function fencedBlocks(readme: string): FencedBlock[] {
  const lines = readFileSync(join(ROOT, readme), 'utf8').split('\n');
  const blocks: FencedBlock[] = [];
  let heading = '';
  for (let index = 0; index < lines.length; index++) {
    const text = lines[index]!;
    const title = /^#{1,6}\s+(.*?)\s*$/.exec(text);
    if (title) heading = title[1]!;
    const fence = /^```(\S*)\s*$/.exec(text);
    if (!fence) continue;
    const start = index + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    blocks.push({ readme, lang: fence[1]!, heading, line: start + 1, code: lines.slice(start, end).join('\n') });
    index = end;
  }
  return blocks;
}

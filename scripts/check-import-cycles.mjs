#!/usr/bin/env node
/* global process, console */
// Fails when a package's sources import each other in a cycle. Type-only imports count too: a
// cycle of types is still two modules that cannot be understood (or tested) one without the other.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const packages =
  process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['core', 'express', 'hono', 'fake-anthropic'];
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]/g;

function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function edges(file) {
  const text = readFileSync(file, 'utf8');
  const targets = [];
  for (const match of text.matchAll(IMPORT)) {
    targets.push(resolve(dirname(file), match[1].replace(/\.js$/, '.ts')));
  }
  return targets;
}

let cycles = 0;
for (const pkg of packages) {
  const src = join(root, 'packages', pkg, 'src');
  const graph = new Map(sources(src).map((file) => [file, edges(file)]));
  const state = new Map(); // 1: on the current path, 2: done
  const path = [];
  const seen = new Set();
  const visit = (file) => {
    state.set(file, 1);
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 1) {
        const cycle = path.slice(path.indexOf(next)).map((f) => relative(src, f));
        const key = [...cycle].sort().join(' ');
        if (!seen.has(key)) {
          seen.add(key);
          cycles += 1;
          console.error(`import cycle in ${pkg}: ${[...cycle, cycle[0]].join(' -> ')}`);
        }
      } else if (!state.has(next)) {
        visit(next);
      }
    }
    path.pop();
    state.set(file, 2);
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
}
if (cycles > 0) {
  console.error(`${cycles} import cycle(s)`);
  process.exit(1);
}
console.log(`no import cycles in ${packages.join(', ')}`);

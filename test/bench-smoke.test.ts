import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

// Runs the benchmark runner for real (its own process, built packages) with a tiny scenario 1, and
// checks the shape of what it writes. Never looks at the timings themselves.
const root = fileURLToPath(new URL('..', import.meta.url));
let dir: string | undefined;

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('bench runner (smoke)', () => {
  it('runs scenario 1 and writes the machine, the tables and every figure', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    const out = join(dir, 'result.json');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--smoke', '--only', '1', '--out', out],
      { cwd: root, timeout: 60_000 },
    );
    expect(stdout).toContain('### 1. Per-call overhead');
    expect(stdout).toContain('| guard.run |');

    const result = JSON.parse(readFileSync(out, 'utf8'));
    expect(result.profile).toBe('smoke');
    expect(result.machine).toMatchObject({
      cpus: expect.any(Number),
      model: expect.any(String),
      node: process.version,
    });
    expect(result.machine.memoryBytes).toBeGreaterThan(0);
    expect(Number.isNaN(Date.parse(result.date))).toBe(false);
    expect(result.scenarios).toHaveLength(1);

    const [scenario] = result.scenarios;
    expect(scenario.id).toBe(1);
    // The "(before)" variants (the pre-redesign core, built from git) are skipped, with the reason
    // in the config, when the history lacks its commit (a shallow clone).
    const withBaseline = scenario.config.baseline.commit !== undefined;
    if (!withBaseline) expect(scenario.config.baseline.skipped).toEqual(expect.any(String));
    const wrappers = ['opossum fire', 'cockatiel wrap(retry, breaker, timeout)', 'guard.run'];
    const sdkVariants = [
      'bare call',
      // The SDK's own cost of a caller's signal, measured next to the wrappers that pass one.
      'bare call with an AbortSignal',
      ...wrappers,
      'route.begin + claude.messages.create',
      ...(withBaseline ? ['guard.run (before)', 'route.begin + claude.messages.create (before)'] : []),
    ];
    const noopVariants = ['bare call', ...wrappers, ...(withBaseline ? ['guard.run (before)'] : [])];
    // Around the SDK call, around a no-op, then the SDK call's chunks read by their quiet tenth.
    expect(scenario.tables.map((t: { rows: string[][] }) => t.rows.map((row) => row[0]))).toEqual([
      sdkVariants,
      noopVariants,
      sdkVariants,
    ]);
    expect(Object.keys(scenario.figures.quiet.sdk)).toEqual(sdkVariants);
    expect(scenario.figures.quiet.sdk['bare call'].addedNs).toBe(0);
    for (const [key, variants] of [
      ['sdk', sdkVariants],
      ['noop', noopVariants],
    ] as const) {
      for (const clock of ['cpu', 'wall']) {
        expect(Object.keys(scenario.figures.summary[key][clock])).toEqual(variants);
        for (const name of variants) {
          const figure = scenario.figures.summary[key][clock][name];
          expect(figure.nsPerOp.rounds).toBe(scenario.config.rounds);
          expect(figure.nsPerOp.median).toBeGreaterThan(0);
        }
      }
      expect(scenario.figures.perRound[key]['guard.run'].wall).toHaveLength(scenario.config.rounds);
    }
    // Six wall-time targets (two per guard variant), then issue 11's two CPU targets around the SDK call,
    // on the rounds' medians and on the quiet chunks.
    expect(scenario.targets).toHaveLength(10);
    expect(scenario.targets.slice(6).map((t: { target: string }) => t.target)).toEqual([
      expect.stringContaining("CPU added <= 5x opossum's fire"),
      expect.stringContaining("CPU added <= 0.25x cockatiel's wrap"),
      expect.stringContaining("quiet chunks: CPU added <= 5x opossum's fire"),
      expect.stringContaining("quiet chunks: CPU added <= 0.25x cockatiel's wrap"),
    ]);
    // null: "not measured", when the reference's added cost is at or below zero (noise) in this run.
    for (const target of scenario.targets) expect([true, false, null]).toContain(target.met);
  });
});

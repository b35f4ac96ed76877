import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { TELEMETRY_VERSION } from './version.js';

// `@opentelemetry/api` is an optional peer: the main entry must work where it is not installed.
vi.mock('@opentelemetry/api', () => {
  throw new Error('@opentelemetry/api is not installed');
});

const here = dirname(fileURLToPath(import.meta.url));

/** Every module the entry `file` reaches through relative imports, and the packages they import. */
function reach(file: string, seen = new Map<string, string[]>()): Map<string, string[]> {
  if (seen.has(file)) return seen;
  const source = readFileSync(file, 'utf8');
  const specifiers = [...source.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map((match) => match[1]!);
  // Type-only imports vanish from the build: they load nothing.
  const loaded = [...source.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms)].map((m) => m[1]!);
  seen.set(
    file,
    loaded.filter((specifier) => !specifier.startsWith('.')),
  );
  for (const specifier of specifiers) {
    if (specifier.startsWith('.')) reach(join(dirname(file), specifier.replace(/\.js$/, '.ts')), seen);
  }
  return seen;
}

describe('entry points', () => {
  it('the main entry loads neither @opentelemetry/api nor anything of the OTel entry', () => {
    const graph = reach(join(here, 'index.ts'));
    const packages = new Set([...graph.values()].flat());
    expect([...packages].sort()).toEqual(['@claude-guard/core', 'prom-client']);
    expect([...graph.keys()].some((file) => file.includes('otel'))).toBe(false);
  });

  it('the OTel entry loads prom-client nowhere', () => {
    const packages = new Set([...reach(join(here, 'otel.ts')).values()].flat());
    expect([...packages].sort()).toEqual(['@claude-guard/core', '@opentelemetry/api']);
  });

  it('serves Prometheus metrics with @opentelemetry/api absent', async () => {
    const { createPrometheusMetrics, metricsHandler } = await import('./index.js');
    const { scriptedGuard, requestEnd } = await import('./testing/scripted-guard.js');
    const script = scriptedGuard();
    const metrics = createPrometheusMetrics({ guard: script.guard });
    script.emit(requestEnd('a'));
    const text = await (await metricsHandler(metrics)(new Request('http://app.test/metrics'))).text();
    expect(text).toContain('claude_guard_requests_total{route="chat",model="claude-sonnet-5",outcome="ok"} 1');
    metrics.close();
    // The mock stands in for the missing module: importing it fails.
    await expect(import('@opentelemetry/api')).rejects.toThrow();
  });

  it('names the version package.json has', () => {
    const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')) as { version: string };
    expect(TELEMETRY_VERSION).toBe(pkg.version);
  });
});

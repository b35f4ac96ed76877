import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as genAi from './gen-ai.js';
import { OTEL_METRIC_NAMES } from './otel-metrics.js';
import { PROMETHEUS_METRIC_NAMES } from './prometheus-metrics.js';

// The README's tables, its alert rules and the Grafana dashboard must name what the code records.
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const dashboard = readFileSync(fileURLToPath(new URL('../../../docs/grafana-dashboard.json', import.meta.url)), 'utf8');

const registered = new Set<string>(PROMETHEUS_METRIC_NAMES);
/** Every `claude_guard_*` series a text queries, histogram suffixes taken back to their metric. */
const queried = (text: string) =>
  new Set([...text.matchAll(/\bclaude_guard_[a-z_]+/g)].map(([name]) => name.replace(/_(bucket|sum|count)$/, '')));

describe('docs', () => {
  it('the README describes every Prometheus metric and every OpenTelemetry instrument', () => {
    for (const name of [...PROMETHEUS_METRIC_NAMES, ...OTEL_METRIC_NAMES]) expect(readme).toContain(`\`${name}\``);
  });

  it('the README names every span attribute and event the instrumentation sets', () => {
    const names = Object.entries(genAi)
      .filter(([constant]) => constant.startsWith('ATTR_') || constant.startsWith('EVENT_'))
      .map(([, name]) => name as string);
    expect(names.length).toBeGreaterThan(30);
    for (const name of names) expect(readme).toContain(`\`${name}\``);
  });

  it('the alert rules and the Grafana dashboard query only metrics that exist', () => {
    const inDashboard = queried(dashboard);
    expect([...inDashboard].filter((name) => !registered.has(name))).toEqual([]);
    expect([...queried(readme)].filter((name) => !registered.has(name))).toEqual([]);
    // Every metric has a panel.
    expect(PROMETHEUS_METRIC_NAMES.filter((name) => !inDashboard.has(name))).toEqual([]);
    expect(() => JSON.parse(dashboard) as unknown).not.toThrow();
  });
});

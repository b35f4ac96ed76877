/** One markdown table of a scenario. */
export interface Table {
  title: string;
  columns: string[];
  rows: string[][];
}

/** One of the targets, as measured in this run. Informative only: benchmarks never fail. */
export interface TargetCheck {
  target: string;
  measured: string;
  /** `null` when the run could not measure it. */
  met: boolean | null;
}

/** What every scenario hands back to the runner. */
export interface ScenarioResult {
  id: number;
  name: string;
  /** What was run: sizes, rates, options (so the JSON says what the figures mean). */
  config: Record<string, unknown>;
  tables: Table[];
  targets: TargetCheck[];
  notes: string[];
  /** Every figure, machine-readable. */
  figures: Record<string, unknown>;
  durationMs: number;
}

export function renderTable(table: Table): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  const lines = [
    `**${table.title}**`,
    '',
    `| ${table.columns.map(escape).join(' | ')} |`,
    `|${table.columns.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
  return lines.join('\n');
}

export function renderScenario(result: ScenarioResult): string {
  const parts = [`### ${result.id}. ${result.name}`, ''];
  for (const table of result.tables) parts.push(renderTable(table), '');
  if (result.targets.length > 0) {
    parts.push(
      renderTable({
        title: 'Targets',
        columns: ['target', 'measured', 'status'],
        rows: result.targets.map((t) => [
          t.target,
          t.measured,
          t.met === null ? 'not measured' : t.met ? 'met' : 'missed',
        ]),
      }),
      '',
    );
  }
  for (const note of result.notes) parts.push(`- ${note}`);
  if (result.notes.length > 0) parts.push('');
  return parts.join('\n');
}

import { describe, it } from 'vitest';
import { ADAPTERS } from '../support/index.js';
import { runCase } from './matrix-runner.js';
import { rowsFor } from './matrix-table.js';

// The rows and their expected outcomes are in matrix-table.ts.
describe.each(ADAPTERS)('fault matrix: `anthropic` stream (`POST /v1/messages`, stream: true) via %s', (adapter) => {
  it.each(rowsFor('anthropic'))('$title', (row) => runCase(adapter, row));
});

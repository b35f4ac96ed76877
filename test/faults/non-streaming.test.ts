import { describe, it } from 'vitest';
import { ADAPTERS } from '../support/index.js';
import { runCase } from './matrix-runner.js';
import { rowsFor } from './matrix-table.js';

// The rows and their expected outcomes are in matrix-table.ts.
describe.each(ADAPTERS)('fault matrix: non-streaming `POST /v1/messages` via %s', (adapter) => {
  it.each(rowsFor('json'))('$title', (row) => runCase(adapter, row));
});

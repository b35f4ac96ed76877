#!/usr/bin/env node
// The `fake-anthropic` binary: everything testable lives in run-cli.ts; this file only wires the process.
import { CliUsageError, runCli } from './run-cli.js';

runCli(process.argv.slice(2)).then(
  (fake) => {
    if (fake === undefined) return;
    const stop = (): void => {
      // Closing leaves no handle open, so the process then exits on its own with status 0.
      fake.close().catch((err: unknown) => {
        process.stderr.write(`fake-anthropic: ${String(err)}\n`);
        process.exitCode = 1;
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof CliUsageError) process.stderr.write('Run fake-anthropic --help for usage.\n');
    process.exitCode = err instanceof CliUsageError ? 2 : 1;
  },
);

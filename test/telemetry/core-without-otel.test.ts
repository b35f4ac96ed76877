import type { AttemptFailureInfo, AttemptInfo, Instrumentation, RequestSpan } from '@claude-guard/core';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ADAPTERS, startStack, type Stack } from '../support/index.js';

// `@opentelemetry/api` is an optional peer of the telemetry package and no dependency of the core at all: the core
// must work where it is not installed. Mocked away at the import boundary, any import of it from the code under
// test fails.
vi.mock('@opentelemetry/api', () => {
  throw new Error('@opentelemetry/api is not installed');
});

const CORE_SRC = join(import.meta.dirname, '../../packages/core/src');

/** An instrumentation of the app's own, on no tracing library: it writes down what the guard tells it. */
function recordingInstrumentation() {
  const calls: string[] = [];
  const instrumentation: Instrumentation = {
    startRequest({ route }) {
      calls.push(`request ${route}`);
      const span: RequestSpan = {
        startAttempt(info: AttemptInfo) {
          calls.push(`attempt ${info.attempt} ${info.model ?? '-'} stream=${info.stream}`);
          return {
            run: (fn) => fn(),
            answer: () => {},
            end: (failure?: AttemptFailureInfo) => calls.push(`attempt end ${failure?.errorType ?? 'ok'}`),
          };
        },
        event: (event) => {
          if (event.type === 'retry') calls.push(`retry ${event.reason}`);
        },
        end: (line) => calls.push(`request end ${line.status}`),
      };
      return span;
    },
  };
  return { instrumentation, calls };
}

describe.each(ADAPTERS)('the core without @opentelemetry/api (%s)', (adapter) => {
  let h: Stack | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('answers, retries and calls an instrumentation of its own, with the module absent', async () => {
    await expect(import('@opentelemetry/api')).rejects.toThrow();
    const { instrumentation, calls } = recordingInstrumentation();
    h = await startStack({ adapter, guard: { instrumentation } });
    h.fake.enqueue(529);
    expect((await h.chat()).status).toBe(200);
    await h.waitForLogs(1);
    expect(calls).toEqual([
      'request chat',
      'attempt 0 claude-sonnet-5 stream=false',
      'attempt end overloaded_error',
      'retry overloaded_error',
      'attempt 1 claude-sonnet-5 stream=false',
      'attempt end ok',
      'request end 200',
    ]);
  });

  it('answers with no instrumentation at all', async () => {
    h = await startStack({ adapter });
    expect((await h.chat()).status).toBe(200);
  });
});

describe('the core sources', () => {
  it('import nothing of OpenTelemetry', () => {
    const sources = readdirSync(CORE_SRC).filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'));
    expect(sources.length).toBeGreaterThan(20);
    for (const name of sources) expect(readFileSync(join(CORE_SRC, name), 'utf8')).not.toContain('@opentelemetry');
  });
});

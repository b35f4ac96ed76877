import Anthropic from '@anthropic-ai/sdk';
import {
  createClaudeGuard,
  type ClaudeGuard,
  type ClaudeGuardOptions,
  type GuardEvent,
  type RequestLogRecord,
  type RetryOptions,
} from '@claude-guard/core';

/** The key the guard's own client uses by default; shaped unlike `sk-ant-...` so only the guard's secret list can catch it. */
export const API_KEY = 'test-secret-key-0123456789abcdef';

/** A small retry policy so tests spend no real time waiting; a test's `retry` options are spread over it. */
export const FAST_RETRY: RetryOptions = { baseDelayMs: 1, maxDelayMs: 5 };

/** Guard options a test may set: everything but the client, logger and event listener, which the capture owns. */
export type TestGuardOptions = Omit<ClaudeGuardOptions, 'client' | 'logger' | 'onEvent'>;

/** One logger call, as the guard made it. */
export interface LogCall {
  level: 'info' | 'warn' | 'error';
  record: RequestLogRecord;
  message: string | undefined;
}

/** Log lines and events seen, whether kept or not. */
export interface CaptureCounts {
  logs: number;
  events: number;
  byType: Map<string, number>;
}

export interface TestGuardOptionsWithUpstream {
  /** Where the guard's client sends requests: the fake, or a hostile upstream. */
  upstreamUrl: string;
  /** The guard's SDK key. Default {@link API_KEY}. */
  apiKey?: string | undefined;
  guard?: TestGuardOptions | undefined;
  /** Keep every log line and event in memory. Default true; a soak only counts them. */
  keep?: boolean | undefined;
}

/** A guard whose log lines and events are captured. */
export interface TestGuard {
  readonly guard: ClaudeGuard;
  /** The guard's own SDK client, pointed at the upstream. */
  readonly client: Anthropic;
  /** Every logger call (empty unless `keep`). */
  readonly logs: LogCall[];
  /** Every guard event (empty unless `keep`). */
  readonly events: GuardEvent[];
  readonly counts: CaptureCounts;
  /** Resolves with the record of the `n`th log line (0-based) once it is written. */
  logLine(n?: number): Promise<RequestLogRecord>;
  /** Resolves once `count` log lines have been written. */
  waitForLogs(count: number): Promise<void>;
}

/**
 * Creates a guard on an SDK client pointed at `upstreamUrl`, with {@link FAST_RETRY} under the test's
 * retry options, capturing its log lines (info, warn and error) and events.
 *
 * @example
 * ```ts
 * const { guard, logs } = createTestGuard({ upstreamUrl: fake.url, guard: { retry: { maxAttempts: 1 } } });
 * ```
 */
export function createTestGuard(options: TestGuardOptionsWithUpstream): TestGuard {
  const keep = options.keep ?? true;
  const logs: LogCall[] = [];
  const events: GuardEvent[] = [];
  const counts: CaptureCounts = { logs: 0, events: 0, byType: new Map() };
  const log = (level: LogCall['level']) => (record: object, message?: string) => {
    counts.logs += 1;
    if (keep) logs.push({ level, record: record as RequestLogRecord, message });
  };
  const guardOptions = options.guard ?? {};
  const client = new Anthropic({ apiKey: options.apiKey ?? API_KEY, baseURL: options.upstreamUrl });
  const guard = createClaudeGuard({
    ...guardOptions,
    client,
    retry: { ...FAST_RETRY, ...guardOptions.retry },
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    onEvent: (event) => {
      counts.events += 1;
      counts.byType.set(event.type, (counts.byType.get(event.type) ?? 0) + 1);
      if (keep) events.push(event);
    },
  });
  return {
    guard,
    client,
    logs,
    events,
    counts,
    async logLine(n = 0) {
      for (let i = 0; i < 500; i++) {
        const line = logs[n];
        if (line) return line.record;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`no log line #${n} was written (have ${logs.length})`);
    },
    async waitForLogs(count) {
      const started = Date.now();
      while (logs.length < count) {
        if (Date.now() - started > 5_000) throw new Error(`expected ${count} log lines, got ${logs.length}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    },
  };
}

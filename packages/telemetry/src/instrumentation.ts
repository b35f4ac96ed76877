import type { AttemptSpan, Instrumentation, RequestSpan } from '@claude-guard/core';

// The seam's types live in the core, which calls them (its `instrumentation` option); they are
// re-exported here for code written against this package's earlier entry points.
export type {
  AttemptAnswer,
  AttemptFailureInfo,
  AttemptInfo,
  AttemptSpan,
  Instrumentation,
  RequestSpan,
  RequestStartInfo,
} from '@claude-guard/core';

const NOOP_ATTEMPT: AttemptSpan = {
  run: (fn) => fn(),
  answer: () => {},
  end: () => {},
};

/**
 * A request span that records nothing.
 *
 * @example
 * ```ts
 * const span = NOOP_REQUEST_SPAN.startAttempt(info); // NOOP too
 * ```
 */
export const NOOP_REQUEST_SPAN: RequestSpan = {
  startAttempt: () => NOOP_ATTEMPT,
  event: () => {},
  end: () => {},
};

/**
 * Instrumentation that records nothing and costs a function call.
 *
 * @example
 * ```ts
 * const instrumentation = process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? createOtelInstrumentation() : NOOP_INSTRUMENTATION;
 * ```
 */
export const NOOP_INSTRUMENTATION: Instrumentation = { startRequest: () => undefined };

export { createOtelInstrumentation } from './otel-instrumentation.js';
export type { OtelInstrumentationOptions } from './otel-instrumentation.js';
export { createOtelMetrics, OTEL_METRIC_NAMES } from './otel-metrics.js';
export type { OtelMetrics, OtelMetricsOptions } from './otel-metrics.js';
export type { ObservableGuard } from './observed-guards.js';
export type {
  AttemptAnswer,
  AttemptFailureInfo,
  AttemptInfo,
  AttemptSpan,
  Instrumentation,
  RequestSpan,
  RequestStartInfo,
} from './instrumentation.js';

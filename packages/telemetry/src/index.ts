export {
  createPrometheusMetrics,
  DURATION_BUCKETS,
  FIRST_EVENT_BUCKETS,
  PROMETHEUS_METRIC_NAMES,
} from './prometheus-metrics.js';
export type { PrometheusMetrics, PrometheusMetricsOptions } from './prometheus-metrics.js';
export { expressMetricsHandler, honoMetricsHandler, metricsHandler } from './metrics-handler.js';
export type { MetricsSource, NodeResponseLike } from './metrics-handler.js';
export type { ObservableGuard } from './observed-guards.js';
export { GuardEventInterpreter } from './guard-observer.js';
export type { ObserveOptions } from './guard-observer.js';
export type { MetricsSink, RequestMeasurement, TokenCounts } from './metrics-sink.js';
export { failureReason, statusClass } from './labels.js';
export { NOOP_INSTRUMENTATION, NOOP_REQUEST_SPAN } from './instrumentation.js';
export type {
  AttemptAnswer,
  AttemptFailureInfo,
  AttemptInfo,
  AttemptSpan,
  Instrumentation,
  RequestSpan,
  RequestStartInfo,
} from './instrumentation.js';

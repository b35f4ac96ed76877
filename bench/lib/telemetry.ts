// Telemetry as a production app would run it, minus the network: the real OpenTelemetry SDK (a
// tracer provider with a batch processor, a meter provider with a periodic reader), both exporting
// to nowhere, plus the Prometheus registry. The providers are handed to the guard's telemetry, not
// registered globally: the Anthropic SDK's own spans are the SDK's cost, and a global provider would
// also give them to the variants measured with telemetry off.
import type { ClaudeGuard, Instrumentation } from '@claude-guard/core';
import { createPrometheusMetrics } from '@claude-guard/telemetry';
import { createOtelInstrumentation, createOtelMetrics } from '@claude-guard/telemetry/otel';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';

const SUCCESS = { code: 0 } as const;

/** Accepts every batch and drops it. */
const noopSpanExporter: SpanExporter = {
  export: (_spans, done) => done(SUCCESS),
  shutdown: () => Promise.resolve(),
};

const noopMetricExporter: PushMetricExporter = {
  export: (_metrics, done) => done(SUCCESS),
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

/**
 * The real trace SDK, exporting to nowhere in batches (as the SDK's default processor does).
 *
 * @example
 * ```ts
 * const instrumentation = createOtelInstrumentation({ tracerProvider: noopTracerProvider() });
 * ```
 */
export function noopTracerProvider(): BasicTracerProvider {
  return new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(noopSpanExporter)] });
}

/**
 * The real metrics SDK, read every 60 s (the SDK's default interval) and exported to nowhere.
 *
 * @example
 * ```ts
 * createOtelMetrics({ meterProvider: noopMeterProvider() }).observe(guard);
 * ```
 */
export function noopMeterProvider(): MeterProvider {
  return new MeterProvider({
    readers: [new PeriodicExportingMetricReader({ exporter: noopMetricExporter, exportIntervalMillis: 60_000 })],
  });
}

export interface BenchTelemetry {
  /** For `createClaudeGuard({ instrumentation })`. */
  instrumentation: Instrumentation;
  /** Starts the metrics (Prometheus and OpenTelemetry) of `guard`. */
  observe(guard: ClaudeGuard): void;
  /** One scrape of the Prometheus text, as `/metrics` would serve it. */
  scrape(): Promise<string>;
  close(): Promise<void>;
}

/**
 * Spans, OpenTelemetry metrics and Prometheus metrics for the guards observed, on the real SDKs with
 * no-op exporters (spans exported in batches, metrics every 60 s, as the SDK defaults do).
 *
 * @example
 * ```ts
 * const telemetry = benchTelemetry();
 * const guard = createClaudeGuard({ client, instrumentation: telemetry.instrumentation });
 * telemetry.observe(guard);
 * ```
 */
export function benchTelemetry(): BenchTelemetry {
  // A real app registers AsyncLocalStorage context: the attempt span is made active through it.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const tracerProvider = noopTracerProvider();
  const meterProvider = noopMeterProvider();
  const prometheus = createPrometheusMetrics();
  const otelMetrics = createOtelMetrics({ meterProvider });
  return {
    instrumentation: createOtelInstrumentation({ tracerProvider }),
    observe(guard) {
      prometheus.observe(guard);
      otelMetrics.observe(guard);
    },
    scrape: () => prometheus.metrics(),
    async close() {
      prometheus.close();
      otelMetrics.close();
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
      context.disable();
    },
  };
}

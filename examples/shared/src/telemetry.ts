import type { ClaudeGuard } from '@claude-guard/core';
import { createPrometheusMetrics, type Instrumentation, type PrometheusMetrics } from '@claude-guard/telemetry';
import { createOtelInstrumentation, createOtelMetrics, type OtelMetrics } from '@claude-guard/telemetry/otel';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtobufMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** The OTLP/HTTP encodings the examples speak (`grpc` needs another exporter package). */
export type OtlpProtocol = 'http/json' | 'http/protobuf';

/** Where and how the example exports over OTLP, read from the standard `OTEL_*` variables. */
export interface OtlpConfig {
  tracesUrl: string;
  metricsUrl: string;
  tracesProtocol: OtlpProtocol;
  metricsProtocol: OtlpProtocol;
  serviceName: string;
  metricIntervalMs: number;
}

const PROTOCOLS: readonly string[] = ['http/json', 'http/protobuf'];

function protocol(env: NodeJS.ProcessEnv, name: string): OtlpProtocol {
  const raw = env[name] || env['OTEL_EXPORTER_OTLP_PROTOCOL'] || 'http/protobuf';
  if (!PROTOCOLS.includes(raw)) {
    const variable = env[name] ? name : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    throw new Error(`${variable} must be http/json or http/protobuf for the examples, got '${raw}'`);
  }
  return raw as OtlpProtocol;
}

/** The base endpoint gets the signal's path; a signal's own endpoint is used as it is (the OTLP spec's rule). */
function signalUrl(env: NodeJS.ProcessEnv, own: string, path: string): string | undefined {
  const specific = env[own];
  if (specific) return specific;
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  return base ? `${base.replace(/\/+$/, '')}/${path}` : undefined;
}

/**
 * Reads `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces and metrics endpoints), `OTEL_EXPORTER_OTLP_PROTOCOL`
 * (and its per-signal forms), `OTEL_SERVICE_NAME` and `OTEL_METRIC_EXPORT_INTERVAL`. No endpoint: `undefined`,
 * nothing is exported.
 *
 * @example
 * ```ts
 * readOtlpConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })?.tracesUrl; // 'http://127.0.0.1:4318/v1/traces'
 * ```
 */
export function readOtlpConfig(env: NodeJS.ProcessEnv): OtlpConfig | undefined {
  const tracesUrl = signalUrl(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'v1/traces');
  const metricsUrl = signalUrl(env, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'v1/metrics');
  if (!tracesUrl || !metricsUrl) return undefined;
  const interval = env['OTEL_METRIC_EXPORT_INTERVAL'];
  const metricIntervalMs = interval ? Number(interval) : 60_000;
  if (!Number.isInteger(metricIntervalMs) || metricIntervalMs <= 0) {
    throw new Error(`OTEL_METRIC_EXPORT_INTERVAL must be a positive integer (ms), got '${interval}'`);
  }
  return {
    tracesUrl,
    metricsUrl,
    tracesProtocol: protocol(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'),
    metricsProtocol: protocol(env, 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL'),
    serviceName: env['OTEL_SERVICE_NAME'] || 'claude-guard-example',
    metricIntervalMs,
  };
}

/** The example's telemetry: Prometheus always, OTLP export when configured. */
export interface ExampleTelemetry {
  /** For the guard's `instrumentation` option: spans over OTLP, or `undefined` when nothing is exported. */
  readonly instrumentation: Instrumentation | undefined;
  /** Where OTLP goes, or `undefined`. */
  readonly otlp: OtlpConfig | undefined;
  /** Starts measuring `guard` (its `/metrics`, and OTLP metrics when configured). */
  observe(guard: ClaudeGuard): void;
  /** Flushes what is left to the collector and unregisters the providers. */
  close(): Promise<void>;
}

const metricsByGuard = new WeakMap<ClaudeGuard, PrometheusMetrics>();

/**
 * The Prometheus metrics of `guard` that `GET /metrics` serves: those {@link startExampleTelemetry}
 * set up, or (a guard made elsewhere, as tests do) a registry of its own, made on first use.
 *
 * @example
 * ```ts
 * app.get('/metrics', expressMetricsHandler(exampleMetrics(guard)));
 * ```
 */
export function exampleMetrics(guard: ClaudeGuard): PrometheusMetrics {
  let metrics = metricsByGuard.get(guard);
  if (!metrics) {
    metrics = createPrometheusMetrics({ guard });
    metricsByGuard.set(guard, metrics);
  }
  return metrics;
}

/**
 * Sets up the example's telemetry before its guard and SDK client exist, so the client's own spans
 * find the tracer provider: with an OTLP endpoint, global OpenTelemetry providers (W3C trace
 * context, AsyncLocalStorage context) exporting traces and metrics over OTLP/HTTP; without, none.
 *
 * @example
 * ```ts
 * const telemetry = startExampleTelemetry(process.env);
 * const guard = createClaudeGuard({ client });
 * telemetry.observe(guard);
 * ```
 */
export function startExampleTelemetry(env: NodeJS.ProcessEnv): ExampleTelemetry {
  const otlp = readOtlpConfig(env);
  const observed: (() => void)[] = [];
  if (!otlp) {
    return {
      instrumentation: undefined,
      otlp,
      observe: (guard) => void exampleMetrics(guard),
      close: () => {
        for (const stop of observed.splice(0)) stop();
        return Promise.resolve();
      },
    };
  }
  const resource = resourceFromAttributes({ 'service.name': otlp.serviceName });
  const traceExporter =
    otlp.tracesProtocol === 'http/json'
      ? new JsonTraceExporter({ url: otlp.tracesUrl })
      : new ProtobufTraceExporter({ url: otlp.tracesUrl });
  const metricExporter =
    otlp.metricsProtocol === 'http/json'
      ? new JsonMetricExporter({ url: otlp.metricsUrl })
      : new ProtobufMetricExporter({ url: otlp.metricsUrl });
  const tracerProvider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(traceExporter)] });
  const meterProvider = new MeterProvider({
    resource,
    readers: [
      new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: otlp.metricIntervalMs }),
    ],
  });
  // Global, so the Anthropic SDK's own spans (it reads the global provider) go to the same collector.
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  const otelMetrics: OtelMetrics = createOtelMetrics({ meterProvider });
  return {
    instrumentation: createOtelInstrumentation({ tracerProvider }),
    otlp,
    observe(guard) {
      exampleMetrics(guard);
      observed.push(otelMetrics.observe(guard));
    },
    async close() {
      // The last export first: it still reads the breakers of the guards observed.
      await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]);
      for (const stop of observed.splice(0)) stop();
      otelMetrics.close();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

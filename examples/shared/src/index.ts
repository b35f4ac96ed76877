export { readExampleConfig } from './config.js';
export type { ExampleConfig } from './config.js';
export { startUpstream } from './upstream.js';
export type { ExampleUpstream } from './upstream.js';
export { DEMO_FAULTS, isDemoFault } from './demo-faults.js';
export type { DemoFaultName } from './demo-faults.js';
export { DEMO_PAGE_HTML } from './demo-page.js';
export { chatParams, jsonLogger } from './chat.js';
export { createDirectClaude, messageText } from './direct-claude.js';
export { createExampleRuntime, runningExample } from './example-runtime.js';
export { fleetStatus } from './fleet-status.js';
export type { ExampleFleet } from './fleet.js';
export type { ExampleRuntime } from './example-runtime.js';
export { exampleMetrics, readOtlpConfig, startExampleTelemetry } from './telemetry.js';
export type { ExampleTelemetry, OtlpConfig, OtlpProtocol } from './telemetry.js';
// The examples' packages take telemetry through this one: `GET /metrics` for each framework.
export { expressMetricsHandler, honoMetricsHandler } from '@claude-guard/telemetry';

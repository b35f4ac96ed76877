/** The instrumentation scope of this package's tracer and meter. */
export const TELEMETRY_SCOPE = '@claude-guard/telemetry';
/** This package's version (a test holds it to package.json). */
export const TELEMETRY_VERSION = '0.1.0';

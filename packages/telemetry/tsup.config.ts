import { packageBuild } from '../../tsup.base.js';

// Two entry points: `.` (Prometheus, prom-client) never loads `@opentelemetry/api`; `./otel` does.
export default packageBuild({ entry: ['src/index.ts', 'src/otel.ts'] });

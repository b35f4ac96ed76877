import { RUNTIMES } from './runtimes.js';
import { describeRuntime } from './scenarios.js';

describeRuntime(RUNTIMES.deno);

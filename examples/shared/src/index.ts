export { readExampleConfig } from './config.js';
export type { ExampleConfig } from './config.js';
export { startUpstream } from './upstream.js';
export type { ExampleUpstream } from './upstream.js';
export { DEMO_FAULTS, isDemoFault } from './demo-faults.js';
export type { DemoFaultName } from './demo-faults.js';
export { DEMO_PAGE_HTML } from './demo-page.js';
export { chatParams, jsonLogger } from './chat.js';

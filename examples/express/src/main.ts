import { startExpressExample } from './start.js';

const app = await startExpressExample(process.env);
console.log(`claude-guard Express example listening on ${app.url}`);
console.log(`Claude calls go to ${app.upstream.description}`);
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

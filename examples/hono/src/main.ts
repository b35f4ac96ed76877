import { startHonoExample } from './start.js';

const app = await startHonoExample(process.env);
console.log(`claude-guard demo (Hono) listening on ${app.url}`);
console.log(`Claude calls go to ${app.upstream.description}`);
console.log(`Open ${app.url}/ in a browser to chat and watch the breakers.`);
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

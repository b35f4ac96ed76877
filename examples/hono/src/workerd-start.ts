/**
 * `pnpm --dir examples/hono start:workerd`: the Hono example on workerd, Cloudflare Workers' runtime,
 * with the same environment variables as on Node. This launcher (run by Node) bundles `src/worker.ts`
 * as Wrangler would, starts the embedded fake when no key or base URL is set (a worker cannot listen
 * on a socket), and runs `workerd serve workerd.capnp` on HOST:PORT, the variables passed as bindings.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { readExampleConfig, startUpstream } from '@claude-guard/example-shared';
import { announce } from './announce.js';
import { bundleWorker } from './workerd-bundle.js';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const config = readExampleConfig(process.env);
const upstream = await startUpstream(process.env);
const env: NodeJS.ProcessEnv = { ...process.env };
if (upstream.fake) {
  env['ANTHROPIC_BASE_URL'] = upstream.fake.url;
  env['ANTHROPIC_API_KEY'] = 'fake-anthropic-key';
}
await bundleWorker(here('./worker.ts'), here('../dist/worker.js'));

const workerd = createRequire(import.meta.url).resolve('workerd/bin/workerd');
const child = spawn(
  workerd,
  ['serve', here('../workerd.capnp'), '--socket-addr', `http=${config.host}:${config.port}`, '--control-fd', '3'],
  { env, stdio: ['ignore', 'inherit', 'inherit', 'pipe'] },
);
// With --control-fd, workerd writes one JSON line per socket once it listens: the port, even for PORT=0.
let control = '';
child.stdio[3]!.on('data', (chunk: Buffer) => {
  control += chunk.toString();
  for (let end = control.indexOf('\n'); end >= 0; end = control.indexOf('\n')) {
    const message = JSON.parse(control.slice(0, end)) as { event?: string; socket?: string; port?: number };
    control = control.slice(end + 1);
    if (message.event === 'listen' && message.socket === 'http') {
      announce('workerd', `http://${config.host}:${message.port}`, upstream.description);
    }
  }
});

const stop = (signal: NodeJS.Signals) => {
  child.kill(signal);
};
process.once('SIGINT', () => stop('SIGINT'));
process.once('SIGTERM', () => stop('SIGTERM'));
child.once('exit', (code, signal) => {
  void upstream.close().then(() => process.exit(code ?? (signal ? 0 : 1)));
});

/**
 * `pnpm --dir examples/hono start:workerd`: the Hono example on workerd, Cloudflare Workers' runtime,
 * with the same environment variables as on Node. This launcher (run by Node) bundles `src/worker.ts`
 * as Wrangler would, starts the embedded fake when no key or base URL is set (a worker cannot listen
 * on a socket), and runs `workerd serve workerd.capnp` on HOST:PORT, the variables passed as bindings.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  DEMO_FAULTS,
  isDemoFault,
  readExampleConfig,
  startUpstream,
  type ExampleUpstream,
} from '@claude-guard/example-shared';
import { announce } from './announce.js';
import { bundleWorker } from './workerd-bundle.js';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const config = readExampleConfig(process.env);
const upstream = await startUpstream(process.env);
const env: NodeJS.ProcessEnv = { ...process.env };
let control: Server | undefined;
if (upstream.fake) {
  env['ANTHROPIC_BASE_URL'] = upstream.fake.url;
  env['ANTHROPIC_API_KEY'] = 'fake-anthropic-key';
  control = await startFaultControls(upstream.fake);
  env['FAKE_ANTHROPIC_CONTROL_URL'] = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;
}
await bundleWorker(here('./worker.ts'), here('../dist/worker.js'));

const workerd = createRequire(import.meta.url).resolve('workerd/bin/workerd');
const child = spawn(
  workerd,
  ['serve', here('../workerd.capnp'), '--socket-addr', `http=${config.host}:${config.port}`, '--control-fd', '3'],
  { env, stdio: ['ignore', 'inherit', 'inherit', 'pipe'] },
);
// With --control-fd, workerd writes one JSON line per socket once it listens: the port, even for PORT=0.
let controlLines = '';
child.stdio[3]!.on('data', (chunk: Buffer) => {
  controlLines += chunk.toString();
  for (let end = controlLines.indexOf('\n'); end >= 0; end = controlLines.indexOf('\n')) {
    const message = JSON.parse(controlLines.slice(0, end)) as { event?: string; socket?: string; port?: number };
    controlLines = controlLines.slice(end + 1);
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
  control?.close();
  void upstream.close().then(() => process.exit(code ?? (signal ? 0 : 1)));
});

/**
 * `POST /demo/fault` with `{"fault": "<name>"}` queues one of the demo's faults on the fake: what the
 * worker's own `/demo/fault` (body limit and validation included) forwards to. Loopback only.
 */
async function startFaultControls(fake: NonNullable<ExampleUpstream['fake']>): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      if (body.length < 4096) body += chunk;
    });
    req.on('end', () => {
      let name: unknown;
      try {
        name = (JSON.parse(body) as { fault?: unknown } | null)?.fault;
      } catch {
        name = undefined;
      }
      if (req.method !== 'POST' || req.url !== '/demo/fault' || !isDemoFault(name)) {
        res.writeHead(400).end();
        return;
      }
      DEMO_FAULTS[name].apply(fake);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RuntimeUnderTest } from './runtimes.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The Hono example running on one runtime, as a child process group. */
export interface ExampleProcess {
  readonly url: string;
  /** Everything the example printed so far (its JSON log lines among them), for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `pnpm --dir examples/hono <script>` on a free port with `env`, and resolves once it prints the
 * URL it listens on.
 *
 * @example
 * ```ts
 * const example = await startExample(RUNTIMES.bun, { ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_API_KEY: 'k' });
 * await example.stop();
 * ```
 */
export async function startExample(runtime: RuntimeUnderTest, env: Record<string, string>): Promise<ExampleProcess> {
  const child = spawn('npx', ['-y', 'pnpm@10.34.9', '--dir', 'examples/hono', runtime.script], {
    cwd: root,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    // Its own process group: npx, pnpm, a shell and the runtime all end together.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = () => stopGroup(child, exited);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${runtime.script} printed no URL in 60 s:\n${output}`)), 60_000);
      const check = () => {
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (match && output.includes('Claude calls go to')) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      };
      child.stdout.on('data', check);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${runtime.script} exited before listening:\n${output}`));
      });
    });
    return { url, output: () => output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function stopGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null) return;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
  // The runtime may outlive the shell that started it for a moment: make sure the group is gone.
  signal('SIGKILL');
}

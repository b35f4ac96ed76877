import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** One example server as a process of its own (tsx, as `pnpm --dir examples/<name> start` runs it). */
export interface ReplicaProcess {
  readonly name: 'express' | 'hono';
  /** `http://127.0.0.1:<port>`, read from what it printed. */
  readonly url: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** SIGKILLs its process group (tsx and the node it starts); resolves once it has exited. */
  kill(): Promise<void>;
}

/**
 * Starts `examples/<name>` as a separate process with `env` over this process's environment, and
 * resolves once it prints the URL it listens on. Its process group is its own, so {@link
 * ReplicaProcess.kill} ends tsx and node alike.
 *
 * @example
 * ```ts
 * const replica = await startReplica('express', { PORT: '0', CLAUDE_GUARD_REDIS_URL: redis.url });
 * await replica.kill();
 * ```
 */
export async function startReplica(
  name: 'express' | 'hono',
  env: Record<string, string>,
  startTimeoutMs = 60_000,
): Promise<ReplicaProcess> {
  const child: ChildProcess = spawn(`${root}examples/${name}/node_modules/.bin/tsx`, ['src/main.ts'], {
    cwd: `${root}examples/${name}`,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`examples/${name} printed no URL:\n${output}`)), startTimeoutMs);
      const onData = (): void => {
        const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
        if (!match) return;
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.off('exit', onExit);
        resolve(match[1]!);
      };
      const onExit = (): void => {
        clearTimeout(timer);
        reject(new Error(`examples/${name} exited before it listened:\n${output}`));
      };
      child.stdout!.on('data', onData);
      child.once('exit', onExit);
    });
    return { name, url, output: () => output, kill };
  } catch (error) {
    await kill();
    throw error;
  }
}

/** The parts of an example's `GET /guard/status` the fleet tests read. */
export interface ExampleGuardStatus {
  store?: { connected: boolean };
  fleet?: { key: string; state: string; local: { fires: number }; fleet: { fires: number } | null }[];
  admission?: { clients: { hold?: { reason: string } }[] };
}

/**
 * An example's `GET /guard/status`, read from `url`.
 *
 * @example
 * ```ts
 * const { fleet } = await guardStatus(replica.url);
 * ```
 */
export async function guardStatus(url: string): Promise<ExampleGuardStatus> {
  return (await fetch(`${url}/guard/status`)).json() as Promise<ExampleGuardStatus>;
}

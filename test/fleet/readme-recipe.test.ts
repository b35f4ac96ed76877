import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../packages/redis/src/testing/redis-server.js';
import { fencedBlocks, ROOT } from '../docs/readme-blocks.js';
import { eventually } from '../support/index.js';

// The README's local fleet recipe ("Running several replicas"), run as it is written, by bash from the
// repository's root: redis-server, three example processes (two Express, one Hono) and a round-robin
// curl client. Only its ports change (free ones instead of 6379 and 3001 to 3003), so that it never
// meets a server someone else runs. Everything it starts is in bash's process group, killed at the end.

const RECIPE_HEADING = 'Running several replicas (`store`, `fleet`)';

const recipe = fencedBlocks('README.md').filter((block) => block.heading === RECIPE_HEADING && block.lang === 'sh');

let shell: ChildProcess | undefined;
afterAll(() => {
  if (shell?.pid === undefined) return;
  try {
    process.kill(-shell.pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
});

interface Status {
  store?: { connected: boolean };
  fleet?: { key: string; fleet: { fires: number } | null }[];
}

describe("the README's local fleet recipe", () => {
  it('is one sh block, and runs: three replicas serve a round-robin client and share their counts', async () => {
    expect(recipe).toHaveLength(1);
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const [redisPort, ...replicaPorts] = ports;
    let script = recipe[0]!.code.replace(/\b6379\b/g, String(redisPort));
    for (const [i, port] of replicaPorts.entries())
      script = script.replace(new RegExp(`\\b${3001 + i}\\b`, 'g'), String(port));
    expect(script).not.toMatch(/\b(6379|3001|3002|3003)\b/);

    const env: NodeJS.ProcessEnv = { ...process.env, ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: '' };
    for (const name of Object.keys(env)) if (name.startsWith('CLAUDE_GUARD_')) delete env[name];
    // A minute's breaker window instead of 10 s: the 30 calls are all still counted when the test looks.
    env['CLAUDE_GUARD_BREAKER_WINDOW_MS'] = '60000';
    shell = spawn('bash', ['-e', '-c', script], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    shell.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    shell.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => shell!.once('exit', resolve));
    expect(code, stderr).toBe(0);

    // The round-robin client's 30 answers, then the status the recipe's last command printed.
    expect(stdout).toContain(`${'200 '.repeat(30)}\n`);
    const last = JSON.parse(stdout.trim().split('\n').at(-1)!) as Status;
    expect(last.store).toEqual({ connected: true });
    // Every replica counts the fleet's 30 calls on /chat (10 its own) once it has synced (it syncs every 500 ms).
    const chatFires = () =>
      Promise.all(
        replicaPorts.map(async (port) => {
          const status = (await (await fetch(`http://127.0.0.1:${port}/guard/status`)).json()) as Status;
          return status.fleet?.find((entry) => entry.key === 'chat')?.fleet?.fires;
        }),
      );
    expect(await eventually(chatFires, [30, 30, 30], 100, 100)).toEqual([30, 30, 30]);
  }, 180_000);
});

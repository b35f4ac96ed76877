import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

// A batch script: nothing but the guard's own retry wait keeps it alive between attempts.
const SCRIPT = `
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard } from '@claude-guard/core';
const client = new Anthropic({ apiKey: 'k', baseURL: process.env.FAKE_URL, maxRetries: 0 });
const guard = createClaudeGuard({ client, retry: { baseDelayMs: 200, maxDelayMs: 200 }, random: () => 1 });
const message = await guard.run('nightly-report', ({ signal, timeout }) =>
  client.messages.create({ model: 'claude-sonnet-5', max_tokens: 20, messages: [{ role: 'user', content: 'report' }] }, { signal, timeout, maxRetries: 0 }));
guard.close();
console.log('done:' + message.content.length);
`;

describe('guard.run in a plain Node script', () => {
  let fake: FakeAnthropic | undefined;
  afterEach(async () => {
    await fake?.close();
  });

  it('stays alive through a retry wait and finishes', async () => {
    fake = await createFakeAnthropic();
    fake.enqueue(529, 'ok');
    // The built package, as a user's script would load it.
    const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT], {
      cwd: `${root}/test`,
      env: { ...process.env, FAKE_URL: fake.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(output).toContain('done:1');
    expect(code).toBe(0);
    expect(fake.requests).toHaveLength(2);
  });
});

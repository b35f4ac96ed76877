import type Anthropic from '@anthropic-ai/sdk';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { expectAnthropicError, params, readResult } from '../support/index.js';
import { ROOT, fencedBlocks } from './readme-blocks.js';

// The README's "Express in 10 lines", run as it is on Express 5 and on Express 4 (issue 12, point 3): an
// upstream failure must become an Anthropic-shaped error, not an unhandled rejection that ends the process
// (Express 4 does not catch an async handler's rejection). The snippet is taken from the README, its types
// stripped; two edits only, each checked to apply exactly once: `app.listen(3000)` listens on a free port
// and says which, and for Express 4 `from 'express'` imports express@4 (installed here as `express4`). It
// runs against the built packages, from a directory inside test/node_modules so that it resolves them.

const LISTEN = 'app.listen(3000);';
const LISTEN_ON_FREE_PORT = `const server = app.listen(0, '127.0.0.1', () => process.stdout.write('README-SNIPPET-PORT ' + server.address().port + '\\n'));`;
const FROM_EXPRESS = "from 'express';";

/** The README's Express snippet. */
function readmeSnippet(): string {
  const blocks = fencedBlocks('README.md').filter((block) => block.heading === 'Express in 10 lines');
  expect(blocks.map((block) => block.lang)).toEqual(['ts']);
  return blocks[0]!.code;
}

function replaceOnce(code: string, from: string, to: string): string {
  expect(code.split(from), `the snippet has \`${from}\` exactly once`).toHaveLength(2);
  return code.replace(from, to);
}

function runnable(variant: 'express' | 'express4'): string {
  let code = replaceOnce(readmeSnippet(), LISTEN, LISTEN_ON_FREE_PORT);
  if (variant === 'express4') code = replaceOnce(code, FROM_EXPRESS, "from 'express4';");
  return ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  }).outputText;
}

interface Running {
  child: ChildProcess;
  base: string;
  exited: Promise<number | null>;
  output(): string;
}

async function start(variant: 'express' | 'express4', fake: FakeAnthropic, dir: string): Promise<Running> {
  const file = join(dir, `readme-${variant}.mjs`);
  writeFileSync(file, runnable(variant));
  const child = spawn(process.execPath, [file], {
    cwd: dir,
    env: { ...withoutAnthropicEnv(process.env), ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: fake.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const port = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the snippet did not start:\n${output}`)), 15_000);
    const onData = () => {
      const match = /README-SNIPPET-PORT (\d+)/.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve(match[1]!);
    };
    child.stdout.on('data', onData);
    void exited.then((code) => reject(new Error(`the snippet exited (${code}):\n${output}`)));
  });
  return { child, base: `http://127.0.0.1:${port}`, exited, output: () => output };
}

/** The environment without the caller's own Anthropic settings (a real key, a token, a base URL). */
function withoutAnthropicEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('ANTHROPIC_')));
}

const summarize = async (base: string) =>
  readResult(
    await fetch(`${base}/summarize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: params('one two three').messages }),
    }),
  );

describe.each(['express', 'express4'] as const)("the README's Express snippet on %s", (variant) => {
  let fake: FakeAnthropic | undefined;
  let running: Running | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    running?.child.kill();
    await running?.exited;
    running = undefined;
    await fake?.close();
    fake = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('answers an upstream failure Anthropic-shaped and keeps serving', async () => {
    fake = await createFakeAnthropic();
    const parent = join(ROOT, 'test/node_modules/.readme-snippets');
    mkdirSync(parent, { recursive: true });
    dir = mkdtempSync(join(parent, `${variant}-`));
    running = await start(variant, fake, dir);

    // A 400 is not retried: the handler's call rejects at once, with the guard's error.
    fake.enqueue({ kind: 'status', status: 400, message: 'messages: bad' });
    const failed = await summarize(running.base);
    expect(failed.status, running.output()).toBe(400);
    expect(expectAnthropicError(failed).type).toBe('invalid_request_error');

    const ok = await summarize(running.base);
    expect(ok.status, running.output()).toBe(200);
    expect((ok.body as Anthropic.Message).type).toBe('message');
    expect(running.child.exitCode).toBeNull();
    expect(running.output()).not.toMatch(/unhandled|UnhandledPromiseRejection/i);
  });
});

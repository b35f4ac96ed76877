import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The packages as a user gets them: every package packed with pnpm (workspace:^ rewritten, `files` applied),
// the tarballs installed with npm into fresh projects outside the workspace (so nothing resolves to the
// monorepo), each project's app type-checked with tsc against the packed types and started, and one request of
// each kind sent through it to a fake-anthropic from its own tarball. Uses the built dist: `pnpm check` builds
// before it tests.

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SETUP_MS = 300_000; // a cold npm cache downloads a few hundred packages; warm, the setup takes ~20 s
// tsc takes ~5 s per app on an idle 2-core machine, and several times that while the rest of the suite runs.
const TYPECHECKED_STEP_MS = 180_000;
const STEP_MS = 20_000;
const CLEANUP_MS = 120_000; // three node_modules, two TypeScripts among them

const rootManifest = readJson(join(ROOT, 'package.json'));
const testManifest = readJson(join(ROOT, 'test/package.json'));
const telemetryManifest = readJson(join(ROOT, 'packages/telemetry/package.json'));
/** The versions the workspace itself tests with, so the fresh projects install the same majors. */
const range = (name: string): string => {
  const spec =
    testManifest.dependencies?.[name] ??
    rootManifest.devDependencies?.[name] ??
    // prom-client: the version the telemetry package is developed against.
    telemetryManifest.devDependencies?.[name];
  if (typeof spec !== 'string') throw new Error(`no version of ${name} in test/, the root or telemetry's package.json`);
  return spec.replace(/^npm:[^@]+@/, '');
};

const PACKAGES = ['core', 'express', 'hono', 'fake-anthropic', 'telemetry', 'redis'] as const;
type PackageName = (typeof PACKAGES)[number];

const TSCONFIG = JSON.stringify({
  compilerOptions: {
    target: 'ES2022',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false, // the packed .d.ts files are checked too, under the user's settings
    types: ['node'],
    outDir: 'dist',
  },
  include: ['app.ts'],
});

const PARAMS = `model: 'claude-sonnet-5', max_tokens: 64`;

const EXPRESS5_ESM_TS = `
import Anthropic from '@anthropic-ai/sdk';
import { createClaudeGuard } from '@claude-guard/core';
import { claudeGuard, claudeGuardErrorHandler, claudeProxy, guarded } from '@claude-guard/express';
import { createPrometheusMetrics, expressMetricsHandler } from '@claude-guard/telemetry';
import express from 'express';
import type { AddressInfo } from 'node:net';

const guard = createClaudeGuard({ client: new Anthropic({ apiKey: 'test-key', baseURL: process.env['FAKE_URL'] ?? null }) });
const app = express();
app.get('/metrics', expressMetricsHandler(createPrometheusMetrics({ guard })));
app.post('/v1/messages', claudeProxy(guard, { route: 'proxy' }));
app.post('/chat', express.json(), claudeGuard(guard, { route: 'chat' }), guarded(async (req, res) => {
  const { message } = req.body as { message: string };
  const reply = await req.claude.messages.create({ ${PARAMS}, messages: [{ role: 'user', content: message }] });
  res.json({ text: reply.content.map((block) => (block.type === 'text' ? block.text : '')).join('') });
}));
app.use(claudeGuardErrorHandler(guard));
const server = app.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port }));
});
`;

const EXPRESS4_CJS = `
const { Anthropic } = require('@anthropic-ai/sdk');
const { createClaudeGuard } = require('@claude-guard/core');
const { claudeGuard, claudeGuardErrorHandler, claudeProxy, guarded } = require('@claude-guard/express');
const express = require('express');

const guard = createClaudeGuard({ client: new Anthropic({ apiKey: 'test-key', baseURL: process.env.FAKE_URL }) });
const app = express();
app.post('/v1/messages', claudeProxy(guard, { route: 'proxy' }));
// Express 4 does not catch a rejected handler: guarded() passes its errors to next.
app.post('/chat', express.json(), claudeGuard(guard, { route: 'chat' }), guarded(async (req, res) => {
  const reply = await req.claude.messages.create({ ${PARAMS}, messages: [{ role: 'user', content: req.body.message }] });
  res.json({ text: reply.content.map((block) => block.text).join('') });
}));
app.use(claudeGuardErrorHandler(guard));
const server = app.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port, express: require('express/package.json').version }));
});
`;

const HONO_ESM_TS = `
import Anthropic from '@anthropic-ai/sdk';
import { serve } from '@hono/node-server';
import { createClaudeGuard } from '@claude-guard/core';
import { createFakeAnthropic } from '@claude-guard/fake-anthropic';
import { claudeGuard, claudeGuardErrorHandler, claudeProxy } from '@claude-guard/hono';
import { createRedisStore } from '@claude-guard/redis';
import { Hono } from 'hono';
import { Redis } from 'ioredis';

// Fleet mode's types under the user's strict settings: built, never connected (lazyConnect).
export const fleetStore = (url: string) =>
  createRedisStore({ client: new Redis(url, { lazyConnect: true, enableOfflineQueue: false }), prefix: 'packed' });

// This app starts its own fake, in-process, through fake-anthropic's ESM entry and types.
const fake = await createFakeAnthropic();
const guard = createClaudeGuard({ client: new Anthropic({ apiKey: 'test-key', baseURL: fake.url }) });
const app = new Hono().onError(claudeGuardErrorHandler(guard));
app.post('/v1/messages', claudeProxy(guard, { route: 'proxy' }));
app.post('/chat', claudeGuard(guard, { route: 'chat' }), async (c) => {
  const { message } = await c.req.json<{ message: string }>();
  const reply = await c.var.claude.messages.create({ ${PARAMS}, messages: [{ role: 'user', content: message }] });
  return c.json({ text: reply.content.map((block) => (block.type === 'text' ? block.text : '')).join('') });
});
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  console.log(JSON.stringify({ port: info.port }));
});
`;

interface Project {
  name: string;
  packages: PackageName[];
  dependencies: string[];
  devDependencies: string[];
  type: 'module' | 'commonjs';
  file: 'app.ts' | 'app.cjs';
  source: string;
}

const PROJECTS: Project[] = [
  {
    name: 'esm-ts-express5',
    // With the telemetry package and prom-client, as its README installs them.
    packages: ['core', 'express', 'telemetry'],
    dependencies: ['@anthropic-ai/sdk', 'express', 'prom-client'],
    devDependencies: ['typescript', '@types/express', '@types/node'],
    type: 'module',
    file: 'app.ts',
    source: EXPRESS5_ESM_TS,
  },
  {
    name: 'cjs-express4',
    packages: ['core', 'express', 'fake-anthropic'],
    dependencies: ['@anthropic-ai/sdk', 'express4'],
    devDependencies: [],
    type: 'commonjs',
    file: 'app.cjs',
    source: EXPRESS4_CJS,
  },
  {
    name: 'esm-ts-hono',
    // With fleet mode's package and ioredis, as its README installs them.
    packages: ['core', 'hono', 'fake-anthropic', 'redis'],
    dependencies: ['@anthropic-ai/sdk', 'hono', '@hono/node-server', 'ioredis'],
    devDependencies: ['typescript', '@types/node'],
    type: 'module',
    file: 'app.ts',
    source: HONO_ESM_TS,
  },
];

let work: string;
let tarballs: Record<PackageName, string>;
const children: ChildProcess[] = [];
let fakeUrl: string;
/** Each TypeScript project's `tsc` run, started as soon as the project is installed; its test awaits it. */
const typechecks = new Map<string, Promise<string>>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'claude-guard-packed-'));
  const packDir = join(work, 'tarballs');
  await pnpm(['-r', '--filter', './packages/**', 'pack', '--pack-destination', packDir], ROOT);
  tarballs = Object.fromEntries(
    PACKAGES.map((name) => {
      const file = readdirSync(packDir).find((f) => f.startsWith(`claude-guard-${name}-`) && f.endsWith('.tgz'));
      if (!file) throw new Error(`pnpm pack made no tarball for ${name}`);
      return [name, join(packDir, file)];
    }),
  ) as Record<PackageName, string>;

  // Each project is installed once, all three at the same time, sharing the user's npm cache; a TypeScript
  // project's type-check and build starts as soon as its install is done.
  await Promise.all(
    PROJECTS.map(async (project) => {
      await install(project);
      if (project.file !== 'app.ts') return;
      const dir = join(work, project.name);
      const typecheck = run(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', '.'], dir);
      typecheck.catch(() => {}); // reported by the project's own test
      typechecks.set(project.name, typecheck);
    }),
  );

  // The CommonJS project's fake-anthropic command: the packed bin shim, through npm's .bin link.
  const fake = await start(join(work, 'cjs-express4'), join(work, 'cjs-express4/node_modules/.bin/fake-anthropic'), [
    '--port',
    '0',
  ]);
  fakeUrl = /listening on (http:\/\/\S+)/.exec(fake.line)![1]!;
}, SETUP_MS);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (work) await rm(work, { recursive: true, force: true });
}, CLEANUP_MS);

describe('the packed packages', () => {
  it('hold their LICENSE and README; nothing they bundle is a dependency', () => {
    const installed = (name: PackageName) => join(work, 'esm-ts-hono/node_modules/@claude-guard', name);
    for (const name of ['core', 'hono', 'fake-anthropic'] as const) {
      expect(readFileSync(join(installed(name), 'LICENSE'), 'utf8')).toContain('MIT License');
      expect(readFileSync(join(installed(name), 'README.md'), 'utf8')).toContain(`# @claude-guard/${name}`);
    }
    const core = readJson(join(installed('core'), 'package.json'));
    expect(Object.keys(core.dependencies ?? {})).not.toContain('p-timeout');
    for (const project of PROJECTS) {
      expect(existsSync(join(work, project.name, 'node_modules/p-timeout'))).toBe(false);
      // One core, the packed one: the adapters' ^0.1.0 did not pull another copy from the registry.
      expect(existsSync(join(work, project.name, 'node_modules/@claude-guard/express/node_modules'))).toBe(false);
      expect(existsSync(join(work, project.name, 'node_modules/@claude-guard/hono/node_modules'))).toBe(false);
      expect(existsSync(join(work, project.name, 'node_modules/@claude-guard/telemetry/node_modules'))).toBe(false);
      expect(existsSync(join(work, project.name, 'node_modules/@claude-guard/redis/node_modules'))).toBe(false);
    }
  });

  it(
    'ESM TypeScript with Express 5: type-checks, then serves a guarded route and the passthrough',
    async () => {
      const dir = join(work, 'esm-ts-express5');
      await typechecks.get('esm-ts-express5'); // tsc with the packed types, strict; it also compiles app.ts
      const app = await start(dir, process.execPath, ['dist/app.js'], { FAKE_URL: fakeUrl });
      const { port } = JSON.parse(app.line);
      await expectRequestsServed(port);
      // The telemetry package's Prometheus text, counting the guarded request once its response has closed.
      const counted = /^claude_guard_requests_total\{[^}]*route="chat"[^}]*\} 1$/m;
      let metrics = '';
      for (let tries = 0; tries < 50 && !counted.test(metrics); tries++) {
        if (tries > 0) await new Promise((resolve) => setTimeout(resolve, 20));
        metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      }
      expect(metrics).toMatch(counted);
    },
    TYPECHECKED_STEP_MS,
  );

  it(
    'CommonJS with Express 4: require()s the CJS builds and serves a guarded route and the passthrough',
    async () => {
      const app = await start(join(work, 'cjs-express4'), process.execPath, ['app.cjs'], { FAKE_URL: fakeUrl });
      const { port, express } = JSON.parse(app.line);
      expect(express).toMatch(/^4\./);
      await expectRequestsServed(port);
    },
    STEP_MS,
  );

  it(
    'ESM TypeScript with Hono on @hono/node-server: type-checks, then serves a guarded route and the passthrough',
    async () => {
      const dir = join(work, 'esm-ts-hono');
      await typechecks.get('esm-ts-hono'); // tsc with the packed types, strict; it also compiles app.ts
      const app = await start(dir, process.execPath, ['dist/app.js']);
      await expectRequestsServed(JSON.parse(app.line).port);
    },
    TYPECHECKED_STEP_MS,
  );
});

/** A guarded JSON call, and a streamed passthrough call, against the app on `port`. */
async function expectRequestsServed(port: number): Promise<void> {
  const chat = await fetch(`http://127.0.0.1:${port}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': 'packed-1' },
    body: JSON.stringify({ message: 'hello from a packed tarball' }),
  });
  expect(chat.status).toBe(200);
  expect(chat.headers.get('x-request-id')).toBe('packed-1');
  expect(((await chat.json()) as { text: string }).text).toMatch(/^hello from a packed tarball hello/);

  const proxied = await fetch(`http://127.0.0.1:${port}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'claude-sonnet-5',
      max_tokens: 8,
      stream: true,
      messages: [{ role: 'user', content: 'streamed through the passthrough' }],
    }),
  });
  expect(proxied.status).toBe(200);
  expect(proxied.headers.get('content-type')).toContain('text/event-stream');
  const events = await proxied.text();
  expect(events).toContain('event: message_start');
  expect(events).toContain(' through');
  expect(events.trimEnd().endsWith('data: {"type":"message_stop"}')).toBe(true);
}

async function install(project: Project): Promise<void> {
  const dir = join(work, project.name);
  mkdirSync(dir);
  const spec = (name: string) => [name === 'express4' ? 'express' : name, range(name)] as const;
  const packed = project.packages.map((name) => [`@claude-guard/${name}`, `file:${tarballs[name]}`] as const);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: `claude-guard-packed-${project.name}`,
      private: true,
      type: project.type,
      dependencies: Object.fromEntries([...packed, ...project.dependencies.map(spec)]),
      devDependencies: Object.fromEntries(project.devDependencies.map(spec)),
      // The adapters depend on @claude-guard/core ^0.1.0: the packed core, never the registry's.
      overrides: { '@claude-guard/core': '$@claude-guard/core' },
    }),
  );
  writeFileSync(join(dir, project.file), project.source);
  if (project.file === 'app.ts') writeFileSync(join(dir, 'tsconfig.json'), TSCONFIG);
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], dir);
}

/** pnpm itself when the suite runs under it (`pnpm check`), else the version the workspace pins. */
function pnpm(args: string[], cwd: string): Promise<string> {
  const execPath = process.env['npm_execpath'];
  if (execPath && /pnpm/.test(execPath)) return run(process.execPath, [execPath, ...args], cwd, process.env);
  return run('npx', ['-y', String(rootManifest['packageManager']), ...args], cwd, process.env);
}

/**
 * The environment of a command run in a fresh project: the suite's, without the npm_* and pnpm_* variables
 * that pnpm and npx set for scripts (npm_config_local_prefix would point npm back at the workspace), except
 * those that say how to reach the registry.
 */
function outsideEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const keep = /^npm_config_(registry|cache|cafile|userconfig|.*proxy|strict_ssl)$/i;
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(npm|pnpm)_/i.test(key) || keep.test(key)),
  );
  return { ...env, NO_UPDATE_NOTIFIER: '1', ...extra };
}

function run(command: string, args: string[], cwd: string, env = outsideEnv()): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${code}:\n${output}`));
    });
  });
}

/** Starts a long-running process and resolves with its first line of output (the app's port, the fake's URL). */
function start(
  cwd: string,
  command: string,
  args: string[],
  extra: Record<string, string> = {},
): Promise<{ line: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: outsideEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`${command} ${args.join(' ')} printed nothing:\n${output}`)),
      10_000,
    );
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const newline = output.indexOf('\n');
      if (newline >= 0) {
        clearTimeout(timer);
        resolve({ line: output.slice(0, newline) });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${output}`));
    });
  });
}

type Manifest = Partial<Record<'dependencies' | 'devDependencies', Record<string, string>>> & Record<string, unknown>;

function readJson(path: string): Manifest {
  return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
}

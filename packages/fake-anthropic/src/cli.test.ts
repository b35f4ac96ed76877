import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import type { FakeAnthropic } from './fake-anthropic.js';
import { CliUsageError, CLI_USAGE, parseCliArgs, runCli } from './run-cli.js';

const model = 'claude-sonnet-5';
const root = fileURLToPath(new URL('../../../', import.meta.url));

describe('parseCliArgs', () => {
  it('reads every flag', () => {
    const config = parseCliArgs([
      '--port',
      '4010',
      '--host',
      '127.0.0.1',
      '--fault-rate',
      '0.2',
      '--fault',
      'overloaded',
      '--token-delay-ms',
      '20',
      '--first-event-delay-ms',
      '0',
      '--reply-words',
      '30',
      '--seed',
      '1',
      '--enqueue',
      'status=429; retry-after=1',
      '--enqueue',
      'ok',
      '--api-key',
      'k1',
      '--log',
    ]);
    expect(config).toEqual({
      help: false,
      log: true,
      enqueue: [{ kind: 'status', status: 429, headers: { 'retry-after': '1' } }, 'ok'],
      options: {
        port: 4010,
        host: '127.0.0.1',
        faultRate: 0.2,
        fault: [{ kind: 'status', status: 529 }],
        tokenDelayMs: 20,
        firstEventDelayMs: 0,
        replyWords: 30,
        seed: 1,
        apiKeys: ['k1'],
      },
    });
  });

  it('expands the short fault names', () => {
    const faults = (name: string) => (parseCliArgs(['--fault', name]) as { options: { fault: unknown } }).options.fault;
    expect(faults('rate-limited')).toEqual([{ kind: 'status', status: 429, headers: { 'retry-after': '1' } }]);
    expect(faults('server-error')).toEqual([{ kind: 'status', status: 500 }]);
    expect(faults('stall')).toEqual([{ kind: 'stall', afterEvents: 0 }]);
    expect(faults('reset')).toEqual([{ kind: 'reset' }]);
    expect(faults('in-band-error=overloaded_error; after=2')).toEqual([
      { kind: 'in-band-error', type: 'overloaded_error', afterEvents: 2 },
    ]);
  });

  it('reads the rate-limit budget flags into one option', () => {
    expect(
      parseCliArgs([
        '--rate-limit-requests',
        '50',
        '--rate-limit-tokens',
        '9000',
        '--rate-limit-input-tokens',
        '8000',
        '--rate-limit-output-tokens',
        '1000',
        '--rate-limit-window-ms',
        '5000',
      ]),
    ).toMatchObject({
      options: { rateLimits: { requests: 50, tokens: 9000, inputTokens: 8000, outputTokens: 1000, windowMs: 5000 } },
    });
    expect(parseCliArgs(['--rate-limit-requests', '5'])).toMatchObject({ options: { rateLimits: { requests: 5 } } });
    expect(parseCliArgs([])).toMatchObject({ options: { rateLimits: undefined } });
    expect(() => parseCliArgs(['--rate-limit-requests', 'many'])).toThrow("--rate-limit-requests got 'many'");
  });

  it('expands the spend-limit and ramp-limit short names', () => {
    const faults = (name: string) => (parseCliArgs(['--fault', name]) as { options: { fault: unknown } }).options.fault;
    expect(faults('spend-limit')).toEqual([{ kind: 'status', status: 429, errorCode: 'enforced_spend_limit_reached' }]);
    expect(faults('ramp-limit')).toEqual([
      { kind: 'status', status: 429, errorCode: 'ramp_limit_exceeded', headers: { 'retry-after': '1' } },
    ]);
  });

  it('makes --fault alone apply to every request', () => {
    expect(parseCliArgs(['--fault', 'stall'])).toMatchObject({ options: { faultRate: 1 } });
    expect(parseCliArgs([])).toMatchObject({ options: { faultRate: undefined, fault: undefined } });
  });

  it.each([
    [['--port', 'abc'], "--port got 'abc'"],
    [['--fault-rate', '1.5'], "--fault-rate got '1.5'"],
    [['--fault', 'explode'], "--fault: x-fake-fault: unknown fault 'explode'"],
    [['--bogus'], "Unknown option '--bogus'"],
    [['extra'], 'positional'],
  ])('rejects %j', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(CliUsageError);
    expect(() => parseCliArgs(argv)).toThrow(message);
  });

  it('recognises --help', () => {
    expect(parseCliArgs(['-h'])).toEqual({ help: true });
  });
});

describe('runCli in-process', () => {
  let fake: FakeAnthropic | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('starts the fake, prints its URL, queues --enqueue and logs requests', async () => {
    const lines: string[] = [];
    const io = { out: (line: string) => lines.push(line), err: (line: string) => lines.push(line) };
    fake = await runCli(['--port', '0', '--reply-words', '2', '--enqueue', 'overloaded', '--log'], io);
    expect(lines[0]).toBe(`fake-anthropic listening on ${fake?.url}`);
    const client = new Anthropic({ apiKey: 'test-key', baseURL: fake?.url ?? '', maxRetries: 0 });
    const body = { model, max_tokens: 10, messages: [{ role: 'user' as const, content: 'hello world again' }] };
    await expect(client.messages.create(body)).rejects.toBeInstanceOf(Anthropic.OverloadedError);
    expect((await client.messages.create(body)).content).toEqual([{ type: 'text', text: 'hello world' }]);
    await fake?.settled();
    expect(lines.slice(1)).toEqual([
      'POST /v1/messages 529 completed events=0 fault=status',
      'POST /v1/messages 200 completed events=0',
    ]);
  });

  it('enforces a --rate-limit-* budget and logs the refusal', async () => {
    const lines: string[] = [];
    const io = { out: (line: string) => lines.push(line), err: (line: string) => lines.push(line) };
    fake = await runCli(['--rate-limit-requests', '1', '--rate-limit-window-ms', '5000', '--log'], io);
    const client = new Anthropic({ apiKey: 'test-key', baseURL: fake?.url ?? '', maxRetries: 0 });
    const body = { model, max_tokens: 10, messages: [{ role: 'user' as const, content: 'hello' }] };
    await client.messages.create(body);
    await expect(client.messages.create(body)).rejects.toBeInstanceOf(Anthropic.RateLimitError);
    await fake?.settled();
    expect(lines.slice(1)).toEqual([
      'POST /v1/messages 200 completed events=0',
      'POST /v1/messages 429 completed events=0 rate-limited=requests',
    ]);
    await expect(runCli(['--rate-limit-window-ms', '1500'], io)).rejects.toThrow(
      'rateLimits.windowMs must be a whole number of seconds in ms',
    );
  });

  it('prints the usage for --help and starts nothing', async () => {
    const lines: string[] = [];
    expect(await runCli(['--help'], { out: (l) => lines.push(l), err: (l) => lines.push(l) })).toBeUndefined();
    expect(lines).toEqual([CLI_USAGE]);
  });

  it('reports a bad value caught by the library as a usage error', async () => {
    await expect(runCli(['--reply-words', '0'], { out: () => {}, err: () => {} })).rejects.toThrow(CliUsageError);
  });
});

describe('the fake-anthropic binary', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  afterEach(() => {
    // Only reached with the child still running when an assertion failed midway.
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  function start(args: string[]): ChildProcessWithoutNullStreams {
    child = spawn(process.execPath, ['--import', 'tsx', 'packages/fake-anthropic/src/cli.ts', ...args], { cwd: root });
    return child;
  }

  async function listeningUrl(proc: ChildProcessWithoutNullStreams): Promise<string> {
    let output = '';
    let errors = '';
    proc.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    for await (const chunk of proc.stdout) {
      output += (chunk as Buffer).toString();
      const match = /fake-anthropic listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1] !== undefined) return match[1];
    }
    throw new Error(`the CLI exited without printing its URL: ${errors}`);
  }

  it('starts, answers the SDK and exits cleanly on SIGTERM', async () => {
    const proc = start(['--port', '0', '--reply-words', '3', '--fault', 'status=529', '--fault-rate', '0']);
    const url = await listeningUrl(proc);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const client = new Anthropic({ apiKey: 'test-key', baseURL: url, maxRetries: 0 });
    const stream = client.messages.stream({ model, max_tokens: 10, messages: [{ role: 'user', content: 'a b' }] });
    expect(await stream.finalText()).toBe('a b a');
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
  });

  it('exits cleanly on SIGINT while a request is stalled', async () => {
    const proc = start(['--port', '0', '--fault', 'stall']);
    const url = await listeningUrl(proc);
    const client = new Anthropic({ apiKey: 'test-key', baseURL: url, maxRetries: 0 });
    const stream = await client.messages.create({
      model,
      max_tokens: 10,
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const exited = once(proc, 'exit');
    proc.kill('SIGINT');
    expect(await exited).toEqual([0, null]);
    // The stalled stream ends with the connection.
    await expect(
      (async () => {
        for await (const _ of stream) {
          // nothing arrives
        }
      })(),
    ).rejects.toBeInstanceOf(Error);
  });

  it('exits with status 2 and a message for a bad flag', async () => {
    const proc = start(['--fault', 'explode']);
    let errors = '';
    proc.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    const [code] = (await once(proc, 'exit')) as [number | null];
    expect(code).toBe(2);
    expect(errors).toContain("unknown fault 'explode'");
  });
});

import { parseArgs } from 'node:util';
import type { FakeAnthropic } from './fake-anthropic.js';
import { createFakeAnthropic } from './fake-anthropic.js';
import type { FaultInput } from './fault.js';
import type { FakeAnthropicOptions } from './options.js';
import { parseFaultHeader } from './parse-fault-header.js';
import type { RequestRecord } from './request-record.js';

/**
 * Thrown for a bad command line; the CLI prints the message and exits with status 2.
 *
 * @example
 * ```ts
 * try { parseCliArgs(['--port', 'x']); } catch (err) { if (err instanceof CliUsageError) console.error(err.message); }
 * ```
 */
export class CliUsageError extends Error {
  constructor(message: string) {
    super(`fake-anthropic: ${message}`);
    this.name = 'CliUsageError';
  }
}

/**
 * The parsed command line.
 *
 * @example
 * ```ts
 * const config: CliConfig = parseCliArgs(['--port', '4010', '--fault', 'overloaded']);
 * ```
 */
export type CliConfig =
  | { readonly help: true }
  | {
      readonly help: false;
      readonly options: FakeAnthropicOptions;
      /** Faults from `--enqueue`, queued in order at start. */
      readonly enqueue: readonly FaultInput[];
      /** `--log`: print one line per finished request. */
      readonly log: boolean;
    };

/**
 * Where the CLI writes; defaults to the process's stdout and stderr.
 *
 * @example
 * ```ts
 * const lines: string[] = [];
 * const io: CliIo = { out: (line) => lines.push(line), err: (line) => lines.push(line) };
 * ```
 */
export type CliIo = { readonly out: (line: string) => void; readonly err: (line: string) => void };

/**
 * Usage text printed by `--help`.
 *
 * @example
 * ```ts
 * console.log(CLI_USAGE);
 * ```
 */
export const CLI_USAGE = `Usage: fake-anthropic [options]

An Anthropic-compatible Messages API server with fault injection.

Options:
  --port <n>                  port to listen on; 0 picks a free one (default 0)
  --host <host>               interface to bind (default 127.0.0.1)
  --reply-words <n>           words per reply (default 12)
  --first-event-delay-ms <n>  delay before message_start (default 0)
  --token-delay-ms <n>        delay between content_block_delta events (default 0)
  --fault <fault>             fault for the random rate; repeat to pick among several (default overloaded)
  --fault-rate <0..1>         share of requests given --fault (default 0, or 1 when --fault is set)
  --seed <n>                  seed of the random rate (default 1)
  --enqueue <fault>           queue a fault for the next request; repeat for a script (ok = no fault)
  --api-key <key>             accept only this key; repeatable (default: any key)
  --rate-limit-requests <n>   enforce n requests per window, answering 429 beyond (default: not enforced)
  --rate-limit-tokens <n>     enforce n input + output tokens per window
  --rate-limit-input-tokens <n>   enforce n input tokens per window
  --rate-limit-output-tokens <n>  enforce n output tokens per window
  --rate-limit-window-ms <n>  length of a rate-limit window, whole seconds in ms (default 60000)
  --log                       print one line per finished request
  -h, --help                  show this help

<fault> uses the x-fake-fault grammar, e.g. 'status=529; retry-after=2', 'stall-after=3',
'in-band-error=overloaded_error; after=2', 'reset', 'reset-after=3', 'delay-headers=500',
'malformed-after=2', 'trickle=4; delay=5', 'status=429; error-code=ramp_limit_exceeded', or a short name:
overloaded, rate-limited, server-error, spend-limit, contract-spend-limit, ramp-limit, stall, reset.`;

/**
 * Parses the command line with `node:util` `parseArgs`.
 *
 * @param argv - the arguments after the program name
 * @returns the configuration, or `{ help: true }`
 * @throws CliUsageError naming the bad flag
 * @example
 * ```ts
 * parseCliArgs(['--fault-rate', '0.2', '--fault', 'overloaded', '--seed', '1']);
 * ```
 */
export function parseCliArgs(argv: readonly string[]): CliConfig {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'reply-words': { type: 'string' },
        'first-event-delay-ms': { type: 'string' },
        'token-delay-ms': { type: 'string' },
        fault: { type: 'string', multiple: true },
        'fault-rate': { type: 'string' },
        seed: { type: 'string' },
        enqueue: { type: 'string', multiple: true },
        'api-key': { type: 'string', multiple: true },
        'rate-limit-requests': { type: 'string' },
        'rate-limit-tokens': { type: 'string' },
        'rate-limit-input-tokens': { type: 'string' },
        'rate-limit-output-tokens': { type: 'string' },
        'rate-limit-window-ms': { type: 'string' },
        log: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new CliUsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help === true) return { help: true };

  const faults = values.fault?.map((f) => fault(f, '--fault'));
  const faultRate = number(values['fault-rate'], '--fault-rate', /^(0(\.\d+)?|1(\.0+)?|\.\d+)$/);
  const budget = {
    requests: number(values['rate-limit-requests'], '--rate-limit-requests', /^\d+$/),
    tokens: number(values['rate-limit-tokens'], '--rate-limit-tokens', /^\d+$/),
    inputTokens: number(values['rate-limit-input-tokens'], '--rate-limit-input-tokens', /^\d+$/),
    outputTokens: number(values['rate-limit-output-tokens'], '--rate-limit-output-tokens', /^\d+$/),
    windowMs: number(values['rate-limit-window-ms'], '--rate-limit-window-ms', /^\d+$/),
  };
  const rateLimits = Object.values(budget).some((v) => v !== undefined)
    ? Object.fromEntries(Object.entries(budget).filter(([, v]) => v !== undefined))
    : undefined;
  const options: FakeAnthropicOptions = {
    port: number(values.port, '--port', /^\d+$/),
    host: values.host,
    replyWords: number(values['reply-words'], '--reply-words', /^\d+$/),
    firstEventDelayMs: number(values['first-event-delay-ms'], '--first-event-delay-ms', /^\d+$/),
    tokenDelayMs: number(values['token-delay-ms'], '--token-delay-ms', /^\d+$/),
    fault: faults,
    // A --fault alone means "always": a rate of 0 would make it silently do nothing.
    faultRate: faultRate ?? (faults === undefined ? undefined : 1),
    seed: number(values.seed, '--seed', /^-?\d+$/),
    apiKeys: values['api-key'],
    rateLimits,
  };
  return {
    help: false,
    options,
    enqueue: values.enqueue?.map((f) => fault(f, '--enqueue')) ?? [],
    log: values.log === true,
  };
}

/**
 * Runs the CLI in-process: parses `argv`, starts the fake and prints
 * `fake-anthropic listening on http://HOST:PORT`. The caller owns the returned server and closes it;
 * the `fake-anthropic` binary does so on SIGINT/SIGTERM.
 *
 * @param argv - the arguments after the program name
 * @param io - where to print; defaults to stdout/stderr
 * @returns the running fake, or `undefined` after printing `--help`
 * @throws CliUsageError for a bad command line, or the listen error (e.g. EADDRINUSE)
 * @example
 * ```ts
 * const fake = await runCli(['--port', '0', '--fault', 'overloaded', '--fault-rate', '0.2']);
 * await fake?.close();
 * ```
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  },
): Promise<FakeAnthropic | undefined> {
  const config = parseCliArgs(argv);
  if (config.help) {
    io.out(CLI_USAGE);
    return undefined;
  }
  const options: FakeAnthropicOptions = config.log
    ? { ...config.options, onRequestEnd: (record) => io.out(describe(record)) }
    : config.options;
  let fake: FakeAnthropic;
  try {
    fake = await createFakeAnthropic(options);
  } catch (err) {
    // Option errors from the library name camelCase options; report them as usage errors.
    if (err instanceof TypeError || err instanceof RangeError) throw new CliUsageError(err.message);
    throw err;
  }
  fake.enqueue(...config.enqueue);
  io.out(`fake-anthropic listening on ${fake.url}`);
  return fake;
}

function describe(record: RequestRecord): string {
  const fault = record.fault === undefined ? '' : ` fault=${record.fault.kind}`;
  const limited = record.rateLimited === undefined ? '' : ` rate-limited=${record.rateLimited}`;
  return `${record.method} ${record.path} ${record.status ?? '-'} ${record.outcome} events=${record.eventsSent}${fault}${limited}`;
}

function number(value: string | undefined, flag: string, pattern: RegExp): number | undefined {
  if (value === undefined) return undefined;
  if (!pattern.test(value)) throw new CliUsageError(`${flag} got '${value}', which is not a valid value`);
  return Number(value);
}

function fault(value: string, flag: string): FaultInput {
  try {
    return parseFaultHeader(value) ?? 'ok';
  } catch (err) {
    throw new CliUsageError(`${flag}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

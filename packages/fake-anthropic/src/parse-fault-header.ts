import type { AnthropicErrorType } from './error-type.js';
import { isErrorType } from './error-type.js';
import type { Fault, StatusFault } from './fault.js';
import { ERROR_CODE } from './fault.js';

/**
 * The request header that chooses a fault for one request.
 *
 * @example
 * ```ts
 * await fetch(url, { method: 'POST', headers: { [FAULT_HEADER]: 'status=529' }, body });
 * ```
 */
export const FAULT_HEADER = 'x-fake-fault';

/**
 * Thrown by {@link parseFaultHeader} for a value outside the grammar; the message names the bad part.
 *
 * @example
 * ```ts
 * try { parseFaultHeader('explode'); } catch (err) { if (err instanceof FaultParseError) console.error(err.message); }
 * ```
 */
export class FaultParseError extends Error {
  /** The whole value that failed to parse. */
  readonly input: string;

  constructor(message: string, input: string) {
    super(`${FAULT_HEADER}: ${message} (in '${input}')`);
    this.name = 'FaultParseError';
    this.input = input;
  }
}

type Params = ReadonlyMap<string, string | undefined>;

type Directive = {
  /** Parameters this directive accepts besides its own name. */
  readonly params: readonly string[];
  /** Whether the directive itself takes a value: 'required', 'optional' or 'none'. */
  readonly value: 'required' | 'optional' | 'none';
  readonly build: (value: string | undefined, params: Params, input: string) => Fault | undefined;
};

const STATUS_PARAMS = [
  'retry-after',
  'retry-after-ms',
  'x-should-retry',
  'message',
  'type',
  'error-code',
  'echo-api-key',
];

const DIRECTIVES: ReadonlyMap<string, Directive> = new Map<string, Directive>([
  ['ok', { params: [], value: 'none', build: () => undefined }],
  ['none', { params: [], value: 'none', build: () => undefined }],
  [
    'status',
    {
      params: STATUS_PARAMS,
      value: 'required',
      build: (value, params, input) => statusFault(toInt(value, 'status', input), params, input, {}),
    },
  ],
  ['overloaded', { params: STATUS_PARAMS, value: 'none', build: (_, p, input) => statusFault(529, p, input, {}) }],
  [
    'rate-limited',
    {
      params: STATUS_PARAMS,
      value: 'none',
      build: (_, p, input) => statusFault(429, p, input, { 'retry-after': '1' }),
    },
  ],
  [
    'spend-limit',
    {
      params: STATUS_PARAMS,
      value: 'none',
      build: (_, p, input) => statusFault(429, p, input, {}, 'enforced_spend_limit_reached'),
    },
  ],
  [
    'contract-spend-limit',
    {
      params: STATUS_PARAMS,
      value: 'none',
      build: (_, p, input) => statusFault(429, p, input, {}, 'contract_spend_limit_reached'),
    },
  ],
  [
    'ramp-limit',
    {
      params: STATUS_PARAMS,
      value: 'none',
      build: (_, p, input) => statusFault(429, p, input, { 'retry-after': '1' }, 'ramp_limit_exceeded'),
    },
  ],
  ['server-error', { params: STATUS_PARAMS, value: 'none', build: (_, p, input) => statusFault(500, p, input, {}) }],
  [
    'delay-headers',
    {
      params: [],
      value: 'required',
      build: (v, _, input) => ({ kind: 'delay-headers', ms: toInt(v, 'delay-headers', input) }),
    },
  ],
  ['stall', { params: [], value: 'none', build: () => ({ kind: 'stall', afterEvents: 0 }) }],
  [
    'stall-after',
    {
      params: [],
      value: 'required',
      build: (v, _, input) => ({ kind: 'stall', afterEvents: toInt(v, 'stall-after', input) }),
    },
  ],
  [
    'in-band-error',
    {
      params: ['after', 'message'],
      value: 'optional',
      build: (v, p, input) => {
        const type = v === undefined ? 'overloaded_error' : toType(v, 'in-band-error', input);
        const message = p.get('message');
        return {
          kind: 'in-band-error',
          type,
          afterEvents: p.has('after') ? toInt(p.get('after'), 'after', input) : 0,
          ...(message !== undefined && { message }),
        };
      },
    },
  ],
  ['reset', { params: [], value: 'none', build: () => ({ kind: 'reset' }) }],
  ['reset-before-headers', { params: [], value: 'none', build: () => ({ kind: 'reset' }) }],
  [
    'reset-after',
    {
      params: [],
      value: 'required',
      build: (v, _, input) => ({ kind: 'reset', afterEvents: toInt(v, 'reset-after', input) }),
    },
  ],
  ['malformed', { params: [], value: 'none', build: () => ({ kind: 'malformed', afterEvents: 0 }) }],
  [
    'malformed-after',
    {
      params: [],
      value: 'required',
      build: (v, _, input) => ({ kind: 'malformed', afterEvents: toInt(v, 'malformed-after', input) }),
    },
  ],
  [
    'trickle',
    {
      params: ['delay'],
      value: 'required',
      build: (v, p, input) => {
        const chunkBytes = toInt(v, 'trickle', input);
        if (chunkBytes < 1) throw new FaultParseError(`'trickle' must be at least 1 byte, got ${chunkBytes}`, input);
        // 10 ms keeps a default trickle visibly slow without making a 12-word stream take seconds.
        const delayMs = p.has('delay') ? toInt(p.get('delay'), 'delay', input) : 10;
        return { kind: 'trickle', chunkBytes, delayMs };
      },
    },
  ],
  [
    'slow',
    {
      params: ['first-event-delay-ms', 'token-delay-ms'],
      value: 'none',
      build: (_, p, input) => ({
        kind: 'slow',
        ...(p.has('first-event-delay-ms') && {
          firstEventDelayMs: toInt(p.get('first-event-delay-ms'), 'first-event-delay-ms', input),
        }),
        ...(p.has('token-delay-ms') && { tokenDelayMs: toInt(p.get('token-delay-ms'), 'token-delay-ms', input) }),
      }),
    },
  ],
]);

/**
 * Parses the `x-fake-fault` header grammar (also used by the CLI's `--fault`):
 * one directive plus optional parameters, separated by `;`, each `name` or `name=value`, in any order,
 * names case-insensitive. `ok`/`none` parse to `undefined` (explicitly no fault).
 *
 * Directives: `status=<code>`, `overloaded`, `rate-limited`, `server-error`, `spend-limit`,
 * `contract-spend-limit`, `ramp-limit` (status parameters: `retry-after`, `retry-after-ms`, `x-should-retry`,
 * `message`, `type`, `error-code`, `echo-api-key`), `delay-headers=<ms>`,
 * `stall`, `stall-after=<n>`, `in-band-error[=<type>]` (`after`, `message`), `reset`,
 * `reset-before-headers`, `reset-after=<n>`, `malformed`, `malformed-after=<n>`, `trickle=<bytes>` (`delay`),
 * `slow` (`first-event-delay-ms`, `token-delay-ms`).
 *
 * @param value - the header value
 * @returns the fault, or `undefined` for `ok`
 * @throws FaultParseError when the value is outside the grammar
 * @example
 * ```ts
 * parseFaultHeader('status=529; retry-after=2');
 * // { kind: 'status', status: 529, headers: { 'retry-after': '2' } }
 * parseFaultHeader('in-band-error=overloaded_error; after=2');
 * // { kind: 'in-band-error', type: 'overloaded_error', afterEvents: 2 }
 * ```
 */
export function parseFaultHeader(value: string): Fault | undefined {
  const items = new Map<string, string | undefined>();
  for (const raw of value.split(';')) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    const arg = eq === -1 ? undefined : part.slice(eq + 1).trim();
    if (name === '') throw new FaultParseError(`empty name in '${part}'`, value);
    if (items.has(name)) throw new FaultParseError(`'${name}' appears twice`, value);
    items.set(name, arg);
  }

  const directives = [...items.keys()].filter((name) => DIRECTIVES.has(name));
  if (directives.length === 0) {
    const first = items.keys().next().value;
    if (first === undefined) throw new FaultParseError('empty value', value);
    throw new FaultParseError(`unknown fault '${first}'`, value);
  }
  if (directives.length > 1) {
    throw new FaultParseError(`one fault per request, got ${directives.map((d) => `'${d}'`).join(' and ')}`, value);
  }

  const name = directives[0] as string;
  const directive = DIRECTIVES.get(name) as Directive;
  const arg = items.get(name);
  items.delete(name);
  if (directive.value === 'required' && (arg === undefined || arg === '')) {
    throw new FaultParseError(`'${name}' needs a value, e.g. '${name}=1'`, value);
  }
  if (directive.value === 'none' && arg !== undefined) {
    throw new FaultParseError(`'${name}' takes no value`, value);
  }
  for (const param of items.keys()) {
    if (!directive.params.includes(param)) {
      const allowed = directive.params.length === 0 ? 'none' : directive.params.join(', ');
      throw new FaultParseError(`unknown parameter '${param}' for '${name}' (allowed: ${allowed})`, value);
    }
  }
  return directive.build(arg, items, value);
}

function statusFault(
  status: number,
  params: Params,
  input: string,
  defaults: Readonly<Record<string, string>>,
  defaultErrorCode?: string,
): StatusFault {
  if (status < 400 || status > 599) throw new FaultParseError(`status must be from 400 to 599, got ${status}`, input);
  const headers: Record<string, string> = { ...defaults };
  for (const name of ['retry-after', 'retry-after-ms', 'x-should-retry']) {
    const v = params.get(name);
    if (params.has(name)) {
      if (v === undefined || v === '') throw new FaultParseError(`'${name}' needs a value`, input);
      headers[name] = v;
    }
  }
  const message = params.get('message');
  const type = params.get('type');
  const errorCode = params.has('error-code') ? (params.get('error-code') ?? '') : defaultErrorCode;
  if (errorCode !== undefined && !ERROR_CODE.test(errorCode)) {
    throw new FaultParseError(`'error-code' must be lowercase letters, digits and _, got '${errorCode}'`, input);
  }
  const echo = params.has('echo-api-key') ? toBool(params.get('echo-api-key'), 'echo-api-key', input) : false;
  return {
    kind: 'status',
    status,
    ...(Object.keys(headers).length > 0 && { headers }),
    ...(message !== undefined && { message }),
    ...(type !== undefined && { type: toType(type, 'type', input) }),
    ...(errorCode !== undefined && { errorCode }),
    ...(echo && { echoApiKey: true }),
  };
}

function toInt(value: string | undefined, name: string, input: string): number {
  if (value === undefined || !/^\d+$/.test(value)) {
    throw new FaultParseError(`'${name}' must be a non-negative integer, got '${value ?? ''}'`, input);
  }
  return Number(value);
}

function toType(value: string, name: string, input: string): AnthropicErrorType {
  if (!isErrorType(value))
    throw new FaultParseError(`'${name}' must be an Anthropic error type, got '${value}'`, input);
  return value;
}

function toBool(value: string | undefined, name: string, input: string): boolean {
  if (value === undefined || value === 'true') return true;
  if (value === 'false') return false;
  throw new FaultParseError(`'${name}' must be true or false, got '${value}'`, input);
}

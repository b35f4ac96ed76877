import type { FaultInput } from '@claude-guard/fake-anthropic';
import { expect, vi } from 'vitest';
import { MODEL, type Stack } from '../support/index.js';

/** One word the fake echoes into its completion (it answers with the prompt's words). */
export const PROMPT_MARKER = 'promptmarker7f3a9c';
export const PROMPT = `alpha ${PROMPT_MARKER} beta`;
/** Text only the upstream's own error messages carry. */
export const UPSTREAM_MARKER = 'upstream-body-marker-4e1d';

/** One way of calling our app. */
export interface Variant {
  name: string;
  path: '/v1/messages' | '/chat';
  route: 'proxy' | 'chat';
  stream: boolean;
  body: Record<string, unknown>;
}

export const VARIANTS: readonly Variant[] = [
  {
    name: 'proxy',
    path: '/v1/messages',
    route: 'proxy',
    stream: false,
    body: { model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: PROMPT }] },
  },
  {
    name: 'proxy stream',
    path: '/v1/messages',
    route: 'proxy',
    stream: true,
    body: { model: MODEL, max_tokens: 16, stream: true, messages: [{ role: 'user', content: PROMPT }] },
  },
  { name: 'chat', path: '/chat', route: 'chat', stream: false, body: { message: PROMPT, max_tokens: 16 } },
  {
    name: 'chat stream',
    path: '/chat',
    route: 'chat',
    stream: true,
    body: { message: PROMPT, max_tokens: 16, stream: true },
  },
];

/**
 * The caller's deadline where a scenario sets none: the scenarios that do not end on a deadline end on
 * their own (an answer, a status, a reset, an in-band error) within milliseconds, and a loaded machine
 * must not turn their answer into a 504.
 */
export const DEFAULT_DEADLINE_MS = 10_000;

/** A failure (or success) the fake produces on every attempt while a scenario runs. */
export interface Scenario {
  name: string;
  fault: FaultInput;
  /** The caller's deadline, for the scenarios that end on it (stalls, late headers). Default {@link DEFAULT_DEADLINE_MS}. */
  deadlineMs?: number;
  /** The fake's timing for this scenario. Default: 10 ms between deltas, so mid-stream faults come after the commit. */
  timing?: { firstEventDelayMs?: number; tokenDelayMs?: number };
  /** Streams surely commit (a heartbeat) before the failure: it must arrive as an in-band `error` event. */
  inBand?: boolean;
}

const withKey = (status: number, headers?: Record<string, string>): FaultInput => ({
  kind: 'status',
  status,
  message: `${UPSTREAM_MARKER}: rejected`,
  echoApiKey: true,
  ...(headers ? { headers } : {}),
});

/** Every error status, connection failures, stalls, in-band errors: each path a client can end up on. */
export function scenarios(key: string): Scenario[] {
  return [
    { name: 'a normal answer', fault: 'ok' },
    { name: '400 echoing the key', fault: withKey(400) },
    { name: '401 echoing the key', fault: withKey(401) },
    { name: '403 echoing the key', fault: withKey(403) },
    { name: '404 echoing the key', fault: withKey(404) },
    { name: '413 echoing the key', fault: withKey(413) },
    { name: '429 echoing the key', fault: withKey(429, { 'retry-after': '0' }) },
    { name: '500 echoing the key', fault: withKey(500) },
    { name: '503 echoing the key', fault: withKey(503) },
    { name: '529 echoing the key', fault: withKey(529) },
    { name: 'a reset before the headers', fault: { kind: 'reset' } },
    { name: 'a reset mid-body', fault: { kind: 'reset', afterEvents: 6 } },
    { name: 'a stall before the headers', fault: { kind: 'stall' }, deadlineMs: 800, inBand: true },
    { name: 'a stall mid-stream', fault: { kind: 'stall', afterEvents: 6 }, deadlineMs: 600 },
    { name: 'headers later than the deadline', fault: { kind: 'delay-headers', ms: 1_000 }, deadlineMs: 200 },
    {
      name: 'an in-band overloaded error mid-stream, carrying the key',
      fault: { kind: 'in-band-error', afterEvents: 6, message: `${UPSTREAM_MARKER} ${key}` },
    },
    {
      // A heartbeat commits the stream before the first event, which is the error.
      name: 'an in-band error after a heartbeat commit, carrying the key',
      fault: { kind: 'in-band-error', afterEvents: 0, type: 'api_error', message: `${UPSTREAM_MARKER} ${key}` },
      timing: { firstEventDelayMs: 300 },
      inBand: true,
    },
    {
      name: 'an in-band error before any event, carrying the key',
      fault: { kind: 'in-band-error', afterEvents: 0, type: 'api_error', message: `${UPSTREAM_MARKER} ${key}` },
    },
    {
      name: 'an in-band invalid_request_error carrying the key',
      fault: { kind: 'in-band-error', afterEvents: 6, type: 'invalid_request_error', message: `${key}` },
    },
    { name: 'a malformed stream', fault: { kind: 'malformed', afterEvents: 6 } },
  ];
}

/** Whether the upstream's answer in `scenario` carries the key. */
export function echoesKey(scenario: Scenario, key: string): boolean {
  const fault = scenario.fault;
  if (typeof fault !== 'object') return false;
  return (
    (fault.kind === 'status' && fault.echoApiKey === true) ||
    (fault.kind === 'in-band-error' && !!fault.message?.includes(key))
  );
}

/** What a client got, every byte of it. */
export interface Exchange {
  variant: Variant;
  status: number;
  headers: [string, string][];
  text: string;
}

export async function call(stack: Stack, variant: Variant, deadlineMs: number): Promise<Exchange> {
  const response = await fetch(`${stack.base}${variant.path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-timeout-ms': String(deadlineMs) },
    body: JSON.stringify(variant.body),
  });
  const headers: [string, string][] = [];
  response.headers.forEach((value, name) => headers.push([name, value]));
  // Read to the end: SSE events included.
  return { variant, status: response.status, headers, text: await response.text() };
}

/** Console output while the test runs (anything a package or a framework printed). */
export function captureConsole(): string[] {
  const lines: string[] = [];
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(args.map((arg) => (arg instanceof Error ? `${arg.message}\n${arg.stack}` : String(arg))).join(' '));
    });
  }
  return lines;
}

/** What must never reach a client, whatever happened upstream. */
export function expectNothingInternal(exchange: Exchange, key: string, keyCore: string, fakePort: number): void {
  const where = `${exchange.variant.name} ${exchange.status}`;
  const everything = `${exchange.headers.map(([name, value]) => `${name}: ${value}`).join('\n')}\n\n${exchange.text}`;
  expect(everything, where).not.toContain(key);
  expect(everything, where).not.toContain(keyCore);
  expect(keyLeaks(everything, key), where).toEqual([]);
  // Internal addresses, stack traces, source paths.
  expect(everything, where).not.toContain(`127.0.0.1:${fakePort}`);
  expect(everything, where).not.toContain(`localhost:${fakePort}`);
  expect(everything, where).not.toMatch(/\n\s+at [\w<.]/);
  expect(everything, where).not.toMatch(/node_modules|node:internal|file:\/\/|\/packages\/|\.ts:\d+/);
  // The upstream's own error text only where the passthrough forwards a 4xx message (redacted).
  const forwarded = exchange.variant.route === 'proxy' && exchange.status >= 400 && exchange.status < 500;
  if (!forwarded) expect(everything, where).not.toContain(UPSTREAM_MARKER);
}

/**
 * What must never reach a log line, an event or the console. The upstream's own error message is kept
 * in them on purpose, redacted (the key checks above cover it), under `upstreamMessage` only (log line,
 * request-end, attempt-failed): its text anywhere else is a leak.
 */
export function expectCleanRecords(records: string, key: string, keyCore: string): void {
  expect(records).not.toContain(key);
  expect(records).not.toContain(keyCore);
  expect(keyLeaks(records, key)).toEqual([]);
  expect(records).not.toContain(PROMPT_MARKER);
  expect(records.replace(/"upstreamMessage":"(?:[^"\\]|\\.)*"/g, '"upstreamMessage":""')).not.toContain(
    UPSTREAM_MARKER,
  );
}

/** One way an upstream can write the key back: its name and the exact text. */
export interface KeyForm {
  name: string;
  value: string;
}

/**
 * The key as a hostile upstream may encode it: plain, base64, base64url, percent-encoded (every
 * byte), upper- and lower-cased, separated by spaces or dots, reversed.
 */
export function keyForms(key: string): KeyForm[] {
  const bytes = Buffer.from(key, 'utf8');
  return [
    { name: 'plain', value: key },
    { name: 'base64', value: bytes.toString('base64') },
    { name: 'base64url', value: bytes.toString('base64url') },
    {
      name: 'percent',
      value: [...bytes].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
    },
    { name: 'upper', value: key.toUpperCase() },
    { name: 'lower', value: key.toLowerCase() },
    { name: 'spaced', value: [...key].join(' ') },
    { name: 'dotted', value: [...key].join('.') },
    { name: 'reversed', value: [...key].reverse().join('') },
  ];
}

/**
 * The names of the key's forms (see {@link keyForms}) found in `text`, plus `fragment` when 16
 * consecutive characters from the middle of the key appear in any case: empty when nothing leaked.
 */
export function keyLeaks(text: string, key: string): string[] {
  const found = keyForms(key)
    .filter((form) => text.includes(form.value))
    .map((form) => form.name);
  const middle = Math.max(0, Math.floor(key.length / 2) - 8);
  if (text.toLowerCase().includes(key.slice(middle, middle + 16).toLowerCase())) found.push('fragment');
  return found;
}

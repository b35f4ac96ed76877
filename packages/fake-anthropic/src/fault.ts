import type { AnthropicErrorType } from './error-type.js';
import { isErrorType } from './error-type.js';

/**
 * Answer with an HTTP error status and an Anthropic error body, before any stream starts.
 *
 * @example
 * ```ts
 * const fault: StatusFault = { kind: 'status', status: 429, headers: { 'retry-after': '2' } };
 * ```
 */
export type StatusFault = {
  readonly kind: 'status';
  /** Any status from 400 to 599; `error.type` follows the wire table unless `type` is set. */
  readonly status: number;
  /** Extra response headers, e.g. `retry-after`, `retry-after-ms`, `x-should-retry`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** `error.message`; defaults to a message resembling the real API's. */
  readonly message?: string;
  /** Overrides `error.type`. */
  readonly type?: AnthropicErrorType;
  /** Appends the caller's API key to `error.message`, for tests proving a proxy never leaks it. */
  readonly echoApiKey?: boolean;
  /**
   * Sends `error.details.error_code`, from which the SDK picks a subclass, e.g. 429 with
   * `enforced_spend_limit_reached` becomes `EnforcedSpendLimitReachedError`. Lowercase letters, digits, `_`.
   */
  readonly errorCode?: string;
};

/**
 * Hold the response headers back for `ms`, then answer normally.
 *
 * @example
 * ```ts
 * const fault: DelayHeadersFault = { kind: 'delay-headers', ms: 500 };
 * ```
 */
export type DelayHeadersFault = { readonly kind: 'delay-headers'; readonly ms: number };

/**
 * Keep the connection open and send nothing more after `afterEvents` SSE events (0: right after the
 * 200 and SSE headers). For a non-streaming request the headers never come.
 *
 * @example
 * ```ts
 * const fault: StallFault = { kind: 'stall', afterEvents: 3 };
 * ```
 */
export type StallFault = { readonly kind: 'stall'; readonly afterEvents?: number };

/**
 * Send `event: error` after `afterEvents` SSE events, then end the stream. A non-streaming request
 * gets the status that matches `type` instead.
 *
 * @example
 * ```ts
 * const fault: InBandErrorFault = { kind: 'in-band-error', afterEvents: 3, type: 'overloaded_error' };
 * ```
 */
export type InBandErrorFault = {
  readonly kind: 'in-band-error';
  /** Defaults to 0. */
  readonly afterEvents?: number;
  /** Defaults to `overloaded_error`. */
  readonly type?: AnthropicErrorType;
  readonly message?: string;
};

/**
 * Drop the connection. Without `afterEvents` the socket is reset before any header; with it, the
 * connection closes after that many SSE events (a non-streaming body is cut in half).
 *
 * @example
 * ```ts
 * const beforeHeaders: ResetFault = { kind: 'reset' };
 * const midStream: ResetFault = { kind: 'reset', afterEvents: 3 };
 * ```
 */
export type ResetFault = { readonly kind: 'reset'; readonly afterEvents?: number };

/**
 * After `afterEvents` SSE events, send an `event: content_block_delta` whose `data:` is not JSON, then
 * end the stream. A non-streaming request gets a 200 whose body is truncated JSON.
 *
 * @example
 * ```ts
 * const fault: MalformedFault = { kind: 'malformed', afterEvents: 4 };
 * ```
 */
export type MalformedFault = { readonly kind: 'malformed'; readonly afterEvents?: number };

/**
 * Write every event (or the JSON body) `chunkBytes` bytes at a time, waiting `delayMs` between chunks.
 *
 * @example
 * ```ts
 * const fault: TrickleFault = { kind: 'trickle', chunkBytes: 4, delayMs: 5 };
 * ```
 */
export type TrickleFault = { readonly kind: 'trickle'; readonly chunkBytes: number; readonly delayMs: number };

/**
 * Override the timing of one response.
 *
 * @example
 * ```ts
 * const fault: SlowFault = { kind: 'slow', firstEventDelayMs: 200, tokenDelayMs: 50 };
 * ```
 */
export type SlowFault = { readonly kind: 'slow'; readonly firstEventDelayMs?: number; readonly tokenDelayMs?: number };

/**
 * Every fault the fake can inject, discriminated by `kind`.
 *
 * @example
 * ```ts
 * const faults: Fault[] = [{ kind: 'status', status: 529 }, { kind: 'stall', afterEvents: 0 }];
 * ```
 */
export type Fault =
  | StatusFault
  | DelayHeadersFault
  | StallFault
  | InBandErrorFault
  | ResetFault
  | MalformedFault
  | TrickleFault
  | SlowFault;

/**
 * What callers may pass where a fault is expected: `'ok'` (no fault), a status code, or a {@link Fault}.
 *
 * @example
 * ```ts
 * fake.enqueue(529, 'ok', { kind: 'reset' });
 * ```
 */
export type FaultInput = 'ok' | number | Fault;

/**
 * Checks a caller's fault and turns shorthands into objects; `'ok'` becomes `undefined`.
 * Throws a `TypeError` naming `where` when the fault is not valid, so mistakes surface at the call site
 * rather than as a puzzling response.
 *
 * @param input - the fault as the caller wrote it
 * @param where - how to name it in an error message, e.g. `enqueue() argument 2`
 * @returns the fault object, or `undefined` for `'ok'`
 * @example
 * ```ts
 * normalizeFault(529, 'fault'); // { kind: 'status', status: 529 }
 * ```
 */
export function normalizeFault(input: unknown, where: string): Fault | undefined {
  if (input === 'ok') return undefined;
  if (typeof input === 'number') {
    checkStatus(input, where);
    return { kind: 'status', status: input };
  }
  if (typeof input !== 'object' || input === null || !('kind' in input)) {
    throw new TypeError(`${where} must be 'ok', a status code or a fault object with a \`kind\`, got ${show(input)}`);
  }
  const fault = input as Fault;
  switch (fault.kind) {
    case 'status':
      checkStatus(fault.status, `${where}.status`);
      if (fault.type !== undefined) checkType(fault.type, `${where}.type`);
      if (fault.headers !== undefined) checkHeaders(fault.headers, `${where}.headers`);
      if (fault.errorCode !== undefined) checkErrorCode(fault.errorCode, `${where}.errorCode`);
      return fault;
    case 'delay-headers':
      checkCount(fault.ms, `${where}.ms`);
      return fault;
    case 'stall':
    case 'malformed':
      if (fault.afterEvents !== undefined) checkCount(fault.afterEvents, `${where}.afterEvents`);
      return fault;
    case 'in-band-error':
      if (fault.afterEvents !== undefined) checkCount(fault.afterEvents, `${where}.afterEvents`);
      if (fault.type !== undefined) checkType(fault.type, `${where}.type`);
      return fault;
    case 'reset':
      if (fault.afterEvents !== undefined) checkCount(fault.afterEvents, `${where}.afterEvents`);
      return fault;
    case 'trickle':
      checkCount(fault.chunkBytes, `${where}.chunkBytes`);
      if (fault.chunkBytes < 1) throw new RangeError(`${where}.chunkBytes must be at least 1, got ${fault.chunkBytes}`);
      checkCount(fault.delayMs, `${where}.delayMs`);
      return fault;
    case 'slow':
      if (fault.firstEventDelayMs !== undefined) checkCount(fault.firstEventDelayMs, `${where}.firstEventDelayMs`);
      if (fault.tokenDelayMs !== undefined) checkCount(fault.tokenDelayMs, `${where}.tokenDelayMs`);
      return fault;
    default:
      throw new TypeError(`${where}.kind is not a known fault kind: ${show((fault as { kind: unknown }).kind)}`);
  }
}

function checkStatus(status: unknown, where: string): void {
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
    throw new RangeError(`${where} must be an HTTP error status from 400 to 599, got ${show(status)}`);
  }
}

function checkCount(value: unknown, where: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`${where} must be a non-negative integer, got ${show(value)}`);
  }
}

function checkType(value: unknown, where: string): void {
  if (typeof value !== 'string' || !isErrorType(value)) {
    throw new TypeError(`${where} must be an Anthropic error type such as 'overloaded_error', got ${show(value)}`);
  }
}

/**
 * The shape of an `error.details.error_code`: lowercase letters, digits and `_`, starting with a letter.
 *
 * @example
 * ```ts
 * ERROR_CODE.test('enforced_spend_limit_reached'); // true
 * ```
 */
export const ERROR_CODE = /^[a-z][a-z0-9_]{0,99}$/;

function checkErrorCode(value: unknown, where: string): void {
  if (typeof value !== 'string' || !ERROR_CODE.test(value)) {
    throw new TypeError(`${where} must be an error code such as 'enforced_spend_limit_reached', got ${show(value)}`);
  }
}

function checkHeaders(value: unknown, where: string): void {
  if (typeof value !== 'object' || value === null || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new TypeError(`${where} must be a record of string header values`);
  }
}

function show(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(JSON.stringify(value));
}

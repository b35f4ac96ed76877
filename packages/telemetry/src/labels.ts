import { errorTypeForStatus, redactSecrets } from '@claude-guard/core';

/** The label for a model no request named (rejected before its body was read). */
export const NO_MODEL = 'none';
/** The label for every model past the limit, or one that does not look like a model name. */
export const OTHER_MODEL = 'other';
/** Distinct model labels kept by default before the rest become {@link OTHER_MODEL}. */
export const DEFAULT_MAX_MODELS = 20;

// Anthropic's model ids and their dated or platform forms (`claude-sonnet-5`, `claude-3-5-haiku@20241022`,
// `anthropic.claude-sonnet-5-v1:0`). Anything longer or with other characters is not a model name.
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,79}$/;

/**
 * `2xx`, `4xx`, `5xx`... for a status; `499` (the client left) is its own class, so disconnects never
 * read as the caller's mistakes.
 *
 * @example
 * ```ts
 * statusClass(529); // '5xx'
 * statusClass(499); // '499'
 * ```
 */
export function statusClass(status: number): string {
  if (status === 499) return '499';
  if (!Number.isInteger(status) || status < 100 || status > 599) return 'other';
  // One of five constant strings rather than a new one per request (it is computed at every request's end).
  return STATUS_CLASSES[Math.floor(status / 100) - 1]!;
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * Why an attempt failed, as a label: for an upstream's answer (`http`, `in-band`) its Anthropic error
 * type (`overloaded_error`, `rate_limit_error`, `api_error`, ...), else the failure's kind
 * (`connection`, `attempt-timeout`, `stream-stalled`, `malformed`, ...). A bounded set either way.
 *
 * @example
 * ```ts
 * failureReason('http', 529); // 'overloaded_error'
 * failureReason('connection', undefined); // 'connection'
 * failureReason('in-band', undefined, 'overloaded_error'); // 'overloaded_error'
 * ```
 */
export function failureReason(kind: string, status: number | undefined, errorType?: string): string {
  if (kind === 'http' || kind === 'in-band') {
    if (errorType !== undefined && ERROR_TYPE.test(errorType)) return errorType;
    if (status !== undefined) return errorTypeForStatus(status);
  }
  return KIND.test(kind) ? kind : 'unknown';
}

const ERROR_TYPE = /^[a-z_]{1,40}$/;
const KIND = /^[a-z_-]{1,40}$/;

/**
 * Turns the models requests name into labels that stay few: a model is asked for by the caller (the
 * passthrough takes any `model`), so only names shaped like a model id, free of anything key-shaped,
 * and only the first `max` distinct ones become labels; the rest are {@link OTHER_MODEL}.
 *
 * @example
 * ```ts
 * const models = new ModelLabels(20, []);
 * models.label('claude-sonnet-5'); // 'claude-sonnet-5'
 * models.label('<script>'); // 'other'
 * ```
 */
export class ModelLabels {
  readonly #max: number;
  readonly #secrets: readonly string[];
  readonly #known = new Map<string, string>();
  #distinct = 0;

  constructor(max: number, secrets: readonly string[]) {
    this.#max = max;
    this.#secrets = secrets;
  }

  label(model: string | undefined): string {
    if (model === undefined || model === '') return NO_MODEL;
    const known = this.#known.get(model);
    if (known !== undefined) return known;
    let label = OTHER_MODEL;
    if (this.#distinct < this.#max && MODEL_NAME.test(model) && redactSecrets(model, this.#secrets) === model) {
      label = model;
      this.#distinct += 1;
    }
    // Refused names are remembered too (as `other`), up to a bound, so a flood of made-up names costs one scan each.
    if (this.#known.size < this.#max * 50) this.#known.set(model, label);
    return label;
  }
}

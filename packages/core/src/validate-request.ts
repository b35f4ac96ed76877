import type { MessageCreateParams } from './claude-client.js';
import type { NormalizedProxy } from './options.js';

/** A request body that passed validation, or why it did not (status 400 or 413). */
export type BodyCheck =
  | { ok: true; params: MessageCreateParams; stream: boolean }
  | { ok: false; status: 400 | 413; type: 'invalid_request_error' | 'request_too_large'; message: string };

const bad = (message: string): BodyCheck => ({ ok: false, status: 400, type: 'invalid_request_error', message });
const ROLES = new Set(['user', 'assistant']);

/**
 * A model name as the API, Bedrock and Vertex spell them (`claude-sonnet-5`, `claude-sonnet-4@20250514`,
 * `anthropic.claude-sonnet-5-v1:0`, an inference-profile ARN): nothing else reaches the SDK.
 */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/;

/** Keeps a client-chosen string safe to echo in a message: no CR/LF, markup or quotes, bounded. */
function neutralized(text: string, max = 256): string {
  return text.slice(0, max).replace(/[^\w.:-]/g, '?');
}

/** Checks one field's value; returns the message of the 400, naming the field (or a part of it). */
type FieldCheck = (value: unknown, field: string) => string | undefined;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const object: FieldCheck = (value, field) => (isObject(value) ? undefined : `${field}: must be an object`);
const nullable =
  (check: FieldCheck): FieldCheck =>
  (value, field) =>
    value === null ? undefined : check(value, field);
const typed: FieldCheck = (value, field) =>
  isObject(value) && typeof value['type'] === 'string' ? undefined : `${field}: must be an object with a type`;
const oneOf =
  (...allowed: readonly string[]): FieldCheck =>
  (value, field) =>
    typeof value === 'string' && allowed.includes(value)
      ? undefined
      : `${field}: must be ${allowed.map((name) => `'${name}'`).join(' or ')}`;
const unitInterval: FieldCheck = (value, field) =>
  typeof value === 'number' && value >= 0 && value <= 1 ? undefined : `${field}: must be a number from 0 to 1`;

/**
 * The request fields of the Messages API (the SDK's `MessageCreateParams`, plus the sampling fields the API still
 * takes), each with a shallow check of its value. Anything else is refused, as the API itself does ("Extra inputs are
 * not permitted"): `workspace_id` and `user_profile_id` in particular, which the SDK would turn into
 * `anthropic-workspace-id` / `anthropic-user-profile-id` headers set by whoever sends the body. Beta-only fields
 * (`mcp_servers`, `context_management`, ...) are refused too: the passthrough calls the non-beta endpoint.
 */
const FIELDS: ReadonlyMap<string, FieldCheck> = new Map<string, FieldCheck>([
  ['stream', (value, field) => (typeof value === 'boolean' ? undefined : `${field}: must be a boolean`)],
  [
    'system',
    (value, field) => {
      if (typeof value === 'string') return undefined;
      if (!Array.isArray(value)) return `${field}: must be a string or an array of text blocks`;
      for (let index = 0; index < value.length; index++) {
        const block: unknown = value[index];
        if (!isObject(block) || block['type'] !== 'text') return `${field}.${index}: must be a text block`;
        if (typeof block['text'] !== 'string') return `${field}.${index}.text: must be a string`;
      }
      return undefined;
    },
  ],
  ['temperature', unitInterval],
  ['top_p', unitInterval],
  [
    'top_k',
    (value, field) =>
      typeof value === 'number' && Number.isInteger(value) && value >= 0
        ? undefined
        : `${field}: must be a non-negative integer`,
  ],
  [
    'stop_sequences',
    (value, field) => {
      if (!Array.isArray(value)) return `${field}: must be an array of strings`;
      const index = value.findIndex((item) => typeof item !== 'string');
      return index < 0 ? undefined : `${field}.${index}: must be a string`;
    },
  ],
  [
    'tools',
    (value, field) => {
      if (!Array.isArray(value)) return `${field}: must be an array of tool definitions`;
      const index = value.findIndex((item) => !isObject(item));
      return index < 0 ? undefined : `${field}.${index}: must be an object`;
    },
  ],
  ['tool_choice', typed],
  [
    'metadata',
    (value, field) => {
      if (!isObject(value)) return `${field}: must be an object`;
      for (const key of Object.keys(value)) {
        if (key !== 'user_id') return `${field}.${neutralized(key, 64)}: Extra inputs are not permitted`;
      }
      const userId = value['user_id'];
      return userId === undefined || userId === null || typeof userId === 'string'
        ? undefined
        : `${field}.user_id: must be a string or null`;
    },
  ],
  ['thinking', typed],
  ['service_tier', oneOf('auto', 'standard_only')],
  ['speed', nullable(oneOf('standard', 'fast'))],
  ['inference_geo', nullable((value, field) => (typeof value === 'string' ? undefined : `${field}: must be a string`))],
  [
    'container',
    nullable((value, field) =>
      typeof value === 'string' || isObject(value) ? undefined : `${field}: must be a container id or an object`,
    ),
  ],
  ['output_config', object],
  ['cache_control', nullable(object)],
  ['diagnostics', nullable(object)],
]);

/**
 * Checks a Messages API body the way the API would, plus the route's own limits, so that
 * nothing malformed ever reaches the upstream or moves the breaker. Only the Messages API's
 * request fields are accepted; any other field is refused with a 400 naming it.
 *
 * @example
 * ```ts
 * const check = validateMessagesBody(JSON.parse(text), route.proxy);
 * if (!check.ok) return badRequest(check);
 * ```
 */
export function validateMessagesBody(body: unknown, limits: NormalizedProxy): BodyCheck {
  if (!isObject(body)) return bad('The request body must be a JSON object');
  const { model, max_tokens: maxTokens, messages, stream } = body;
  if (model === undefined) return bad('model: Field required');
  if (typeof model !== 'string' || model.length === 0 || model.length > 256)
    return bad('model: must be a non-empty string');
  if (limits.allowedModels && !limits.allowedModels.has(model)) {
    return bad(`model: '${neutralized(model)}' is not allowed on this route`);
  }
  // The SDK looks model names up in plain objects (`name in DEPRECATED_MODELS`): `toString` would match
  // Object.prototype and print a deprecation warning about a function on every request.
  if (!MODEL_NAME.test(model) || Object.hasOwn(Object.prototype, model)) {
    return bad(`model: '${neutralized(model)}' is not a valid model name`);
  }
  if (maxTokens === undefined) return bad('max_tokens: Field required');
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    return bad('max_tokens: must be a positive integer');
  }
  if (limits.maxTokensCap !== undefined && maxTokens > limits.maxTokensCap) {
    return bad(`max_tokens: must be at most ${limits.maxTokensCap} on this route`);
  }
  if (messages === undefined) return bad('messages: Field required');
  if (!Array.isArray(messages) || messages.length === 0) return bad('messages: must be a non-empty array');
  for (let index = 0; index < messages.length; index++) {
    const message: unknown = messages[index];
    if (typeof message !== 'object' || message === null) return bad(`messages.${index}: must be an object`);
    const { role, content } = message as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.has(role))
      return bad(`messages.${index}.role: must be 'user' or 'assistant'`);
    if (typeof content !== 'string' && !Array.isArray(content)) {
      return bad(`messages.${index}.content: must be a string or an array of content blocks`);
    }
  }
  for (const [field, value] of Object.entries(body)) {
    if (field === 'model' || field === 'max_tokens' || field === 'messages') continue;
    const check = FIELDS.get(field);
    if (!check) return bad(`${neutralized(field, 64)}: Extra inputs are not permitted`);
    const problem = check(value, field);
    if (problem !== undefined) return bad(problem);
  }
  const { stream: _stream, ...params } = body;
  return { ok: true, params: params as unknown as MessageCreateParams, stream: stream === true };
}

/** Deepest array/object nesting the passthrough accepts: far beyond any real request. */
export const MAX_JSON_DEPTH = 128;

/**
 * Whether JSON `text` nests arrays and objects more than `limit` levels deep. Checked before
 * parsing: a body nested 100 000 levels fits the size limit and parses, but overflows the stack
 * when the SDK serializes it again (a 500 instead of a 400).
 *
 * @example
 * ```ts
 * jsonNestingExceeds('[[1]]', 1); // true
 * ```
 */
export function jsonNestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 92)
        index++; // a backslash escapes the next character
      else if (code === 34) inString = false;
    } else if (code === 34) {
      inString = true;
    } else if (code === 91 || code === 123) {
      if (++depth > limit) return true;
    } else if (code === 93 || code === 125) {
      depth--;
    }
  }
  return false;
}

import type { MessageCreateParams } from './claude-client.js';
import type { NormalizedProxy } from './options.js';

/** A request body that passed validation, or why it did not (status 400 or 413). */
export type BodyCheck =
  | { ok: true; params: MessageCreateParams; stream: boolean }
  | { ok: false; status: 400 | 413; type: 'invalid_request_error' | 'request_too_large'; message: string };

const bad = (message: string): BodyCheck => ({ ok: false, status: 400, type: 'invalid_request_error', message });
const ROLES = new Set(['user', 'assistant']);

/**
 * Checks a Messages API body the way the API would, plus the route's own limits, so that
 * nothing malformed ever reaches the upstream or moves the breaker.
 *
 * @example
 * ```ts
 * const check = validateMessagesBody(JSON.parse(text), route.proxy);
 * if (!check.ok) return badRequest(check);
 * ```
 */
export function validateMessagesBody(body: unknown, limits: NormalizedProxy): BodyCheck {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return bad('The request body must be a JSON object');
  const record = body as Record<string, unknown>;
  const { model, max_tokens: maxTokens, messages, stream } = record;
  if (model === undefined) return bad('model: Field required');
  if (typeof model !== 'string' || model.length === 0 || model.length > 256)
    return bad('model: must be a non-empty string');
  if (limits.allowedModels && !limits.allowedModels.has(model)) {
    return bad(`model: '${model.replace(/[^\w.:-]/g, '?')}' is not allowed on this route`);
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
    const message = messages[index] as unknown;
    if (typeof message !== 'object' || message === null) return bad(`messages.${index}: must be an object`);
    const { role, content } = message as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.has(role))
      return bad(`messages.${index}.role: must be 'user' or 'assistant'`);
    if (typeof content !== 'string' && !Array.isArray(content)) {
      return bad(`messages.${index}.content: must be a string or an array of content blocks`);
    }
  }
  if (stream !== undefined && typeof stream !== 'boolean') return bad('stream: must be a boolean');
  const { stream: _stream, ...params } = record;
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

/**
 * Reads a body up to `limit` bytes; stops reading (and reports `tooLarge`) past it, so a huge
 * body costs no more than the limit.
 *
 * @example
 * ```ts
 * const read = await readBodyText(request, 1_048_576);
 * ```
 */
export async function readBodyText(request: Request, limit: number): Promise<{ tooLarge: boolean; text: string }> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await request.body?.cancel().catch(() => undefined);
    return { tooLarge: true, text: '' };
  }
  if (!request.body) return { tooLarge: false, text: '' };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return { tooLarge: true, text: '' };
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { tooLarge: false, text: new TextDecoder().decode(bytes) };
}

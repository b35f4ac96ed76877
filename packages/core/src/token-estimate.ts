/**
 * Characters of prose per token. Claude's tokenizer averages about 3.5 characters of English per token;
 * code and other languages use more tokens per character, which the reconciliation with `usage` absorbs.
 *
 * @example
 * ```ts
 * Math.ceil('Hello, world'.length / TEXT_CHARS_PER_TOKEN); // 4
 * ```
 */
export const TEXT_CHARS_PER_TOKEN = 3.5;

/**
 * Characters of JSON per token (tool definitions, tool inputs, unknown blocks): punctuation-heavy, so
 * counted a little more generously per token than prose.
 *
 * @example
 * ```ts
 * JSON.stringify(tools).length / JSON_CHARS_PER_TOKEN;
 * ```
 */
export const JSON_CHARS_PER_TOKEN = 4;

/**
 * Tokens added per message for its role and turn markers.
 *
 * @example
 * ```ts
 * estimateInputTokens({ messages: [{ role: 'user', content: '' }] }); // MESSAGE_OVERHEAD_TOKENS
 * ```
 */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/**
 * Tokens the API adds once when a request defines tools: the tool-use system prompt (documented at a few
 * hundred tokens, depending on the model and `tool_choice`).
 *
 * @example
 * ```ts
 * estimateInputTokens({ messages: [], tools: [] }); // 0: no tools, no overhead
 * ```
 */
export const TOOLS_OVERHEAD_TOKENS = 350;

/**
 * Tokens per image or document block without text: the cost of a ~1.15 megapixel image
 * (width x height / 750). Larger PDFs cost more and are underestimated.
 *
 * @example
 * ```ts
 * estimateInputTokens({ messages: [{ role: 'user', content: [{ type: 'image', source: {} }] }] }); // 4 + 1600
 * ```
 */
export const MEDIA_BLOCK_TOKENS = 1_600;

// tool_result content holds blocks, which hold no further results: anything deeper is counted as JSON.
const MAX_BLOCK_DEPTH = 3;

interface Tally {
  text: number;
  json: number;
  media: number;
}

/**
 * A cheap estimate of the input tokens of a Messages API request body, made before sending it to compare
 * with the `anthropic-ratelimit-*-tokens-remaining` the API last reported. Never a network call, never
 * throws, linear in the body's size; any shape is accepted (unknown parts count as their JSON).
 *
 * The estimate is
 * `ceil(prose characters / 3.5 + JSON characters / 4) + 4 per message + 1 600 per image or document
 * + 350 when tools are defined`, where prose is the text of `system` (string or text blocks) and of every
 * message (string content; `text`, `thinking` blocks; the text inside `tool_result` and text documents),
 * and JSON is `tools` and every `tool_use` input or block of another type. It is monotonic: adding text,
 * a message, a block or a tool never lowers it.
 *
 * @param body - The request body (parsed JSON, or the SDK's params).
 * @returns A whole number of tokens, 0 for something that is not an object.
 *
 * @example
 * ```ts
 * estimateInputTokens({
 *   model: 'claude-sonnet-5',
 *   max_tokens: 256,
 *   system: 'Be brief.',
 *   messages: [{ role: 'user', content: 'Summarize the attached report in three bullet points.' }],
 * }); // 22
 * ```
 */
export function estimateInputTokens(body: unknown): number {
  if (!isRecord(body)) return 0;
  const tally: Tally = { text: 0, json: 0, media: 0 };
  const system = body['system'];
  if (typeof system === 'string') tally.text += system.length;
  else if (Array.isArray(system)) countBlocks(system, tally, 0);

  let messages = 0;
  const list = body['messages'];
  if (Array.isArray(list)) {
    for (const message of list) {
      messages += 1;
      if (!isRecord(message)) continue;
      const content = message['content'];
      if (typeof content === 'string') tally.text += content.length;
      else if (Array.isArray(content)) countBlocks(content, tally, 0);
    }
  }

  let toolsOverhead = 0;
  const tools = body['tools'];
  if (Array.isArray(tools) && tools.length > 0) {
    tally.json += jsonLength(tools);
    toolsOverhead = TOOLS_OVERHEAD_TOKENS;
  }

  return (
    Math.ceil(tally.text / TEXT_CHARS_PER_TOKEN + tally.json / JSON_CHARS_PER_TOKEN) +
    messages * MESSAGE_OVERHEAD_TOKENS +
    tally.media * MEDIA_BLOCK_TOKENS +
    toolsOverhead
  );
}

function countBlocks(blocks: readonly unknown[], tally: Tally, depth: number): void {
  for (const block of blocks) {
    if (typeof block === 'string') {
      tally.text += block.length;
      continue;
    }
    if (!isRecord(block)) continue;
    if (depth >= MAX_BLOCK_DEPTH) {
      tally.json += jsonLength(block);
      continue;
    }
    switch (block['type']) {
      case 'text':
        tally.text += stringLength(block['text']);
        break;
      case 'thinking':
        tally.text += stringLength(block['thinking']);
        break;
      case 'tool_use':
      case 'server_tool_use':
        tally.text += stringLength(block['name']);
        tally.json += jsonLength(block['input']);
        break;
      case 'tool_result': {
        const content = block['content'];
        if (typeof content === 'string') tally.text += content.length;
        else if (Array.isArray(content)) countBlocks(content, tally, depth + 1);
        break;
      }
      case 'image':
        tally.media += 1;
        break;
      case 'document': {
        const source = block['source'];
        if (isRecord(source) && source['type'] === 'text') tally.text += stringLength(source['data']);
        else if (isRecord(source) && source['type'] === 'content' && Array.isArray(source['content'])) {
          countBlocks(source['content'], tally, depth + 1);
        } else tally.media += 1;
        break;
      }
      default:
        tally.json += jsonLength(block);
    }
  }
}

function stringLength(value: unknown): number {
  return typeof value === 'string' ? value.length : 0;
}

function jsonLength(value: unknown): number {
  if (value === undefined) return 0;
  try {
    return JSON.stringify(value)?.length ?? 0;
  } catch {
    // A cycle or a BigInt (only possible from in-process callers): nothing to count that we can read.
    return 0;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADAPTERS, MODEL, startStack, type Stack } from '../support/index.js';
import { expectAnthropicError, lastLog, messagesBody, send, type Answer } from '../input/input-kit.js';

// Issue 10, items 4 and 11: what the passthrough accepts in a body, field by field and byte by byte.
// No `allowedModels` on the route: the model name's own shape is what is checked.

const json = (value: unknown) => JSON.stringify(value);
const utf8 = (text: string) => new TextEncoder().encode(text);
/** A valid body whose first message's content is `raw` bytes spliced between two quotes. */
function bytesInContent(raw: readonly number[]): Uint8Array<ArrayBuffer> {
  const [head, tail] = json(messagesBody({ messages: [{ role: 'user', content: '@@' }] })).split('@@') as [
    string,
    string,
  ];
  return new Uint8Array([...utf8(head), ...raw, ...utf8(tail)]);
}

describe.each(ADAPTERS)('the passthrough forwards only Messages API fields (%s)', (adapter) => {
  let stack: Stack;
  let linesBefore = 0;
  let breakersBefore = '';
  const breakers = () => JSON.stringify(stack.guard.status().breakers);
  beforeAll(async () => {
    stack = await startStack({ adapter });
  });
  afterAll(async () => {
    await stack.close();
  });
  afterEach(() => {
    stack.fake.reset();
  });

  async function post(body: BodyInit): Promise<Answer> {
    linesBefore = stack.logs.length;
    breakersBefore = breakers();
    return send(stack, '/v1/messages', body);
  }

  /** A 400 naming the problem, one bad-request log line, and nothing sent upstream. */
  function expectRejected(answer: Answer, message: string | RegExp): void {
    expectAnthropicError(answer, 400, 'invalid_request_error', message);
    expect(stack.fake.requests).toHaveLength(0);
    expect(breakers(), 'no breaker moved').toBe(breakersBefore);
    expect(stack.logs).toHaveLength(linesBefore + 1);
    expect(lastLog(stack)).toMatchObject({ route: 'proxy', status: 400, outcome: 'bad-request', attempts: 0 });
  }

  it.each([
    ['workspace_id', 'wrkspc_attacker', false],
    ['workspace_id', 'wrkspc_attacker', true],
    ['user_profile_id', 'uprof_attacker', false],
    ['user_profile_id', 'uprof_attacker', true],
    ['workspace_id', 'a\r\nx-injected: 1', false],
    ['user_profile_id', 'a\r\nx-injected: 1', true],
  ])(
    'a body field the SDK turns into a header (%s = %j, stream %s) is refused, never sent',
    async (field, value, stream) => {
      const answer = await post(json(messagesBody({ [field]: value, stream })));
      expectRejected(answer, `${field}: Extra inputs are not permitted`);
      expect(answer.headers.get('x-injected')).toBeNull();
    },
  );

  it.each([
    ['an unknown field', { foo: 1 }, 'foo: Extra inputs are not permitted'],
    ['a beta-only field', { mcp_servers: [] }, 'mcp_servers: Extra inputs are not permitted'],
    ['a field for another endpoint', { betas: ['x'] }, 'betas: Extra inputs are not permitted'],
    [
      'an unknown key inside metadata',
      { metadata: { user_id: 'u', tier: 'gold' } },
      'metadata.tier: Extra inputs are not permitted',
    ],
  ])('%s gets a 400 naming it', async (_what, overrides, message) => {
    expectRejected(await post(json(messagesBody(overrides))), message);
  });

  it('an unknown field whose name carries CR/LF and markup is named neutralized', async () => {
    const answer = await post(json(messagesBody({ 'x\r\nset-cookie: a=1<script>': 1 })));
    expectRejected(answer, 'x??set-cookie:?a?1?script?: Extra inputs are not permitted');
    expect(answer.headers.get('set-cookie')).toBeNull();
  });

  it.each([
    ['system', 5, /^system: /],
    ['system', [{ type: 'text' }], /^system\.0\.text: /],
    ['temperature', 'hot', /^temperature: /],
    ['temperature', 3, /^temperature: /],
    ['top_p', -0.5, /^top_p: /],
    ['top_k', 1.5, /^top_k: /],
    ['stop_sequences', 'STOP', /^stop_sequences: /],
    ['stop_sequences', [1], /^stop_sequences\.0: /],
    ['tools', { name: 'x' }, /^tools: /],
    ['tools', ['x'], /^tools\.0: /],
    ['tool_choice', 'auto', /^tool_choice: /],
    ['metadata', 'user-1', /^metadata: /],
    ['metadata', { user_id: 5 }, /^metadata\.user_id: /],
    ['thinking', true, /^thinking: /],
    ['service_tier', 'fastest', /^service_tier: /],
    ['speed', 'warp', /^speed: /],
    ['inference_geo', 7, /^inference_geo: /],
    ['container', 7, /^container: /],
    ['output_config', [], /^output_config: /],
    ['cache_control', 'ephemeral', /^cache_control: /],
    ['diagnostics', 'on', /^diagnostics: /],
  ])('a bad value of %s (%j) gets a 400 naming the field', async (field, value, message) => {
    expectRejected(await post(json(messagesBody({ [field]: value }))), message);
  });

  it('every Messages API field with a valid value reaches Claude unchanged, and no header comes from the body', async () => {
    const body = messagesBody({
      system: [{ type: 'text', text: 'Be brief.' }],
      temperature: 0.2,
      top_p: 0.9,
      top_k: 5,
      stop_sequences: ['STOP'],
      tools: [{ name: 'lookup', input_schema: { type: 'object', properties: {} } }],
      tool_choice: { type: 'auto' },
      metadata: { user_id: 'user-1' },
      thinking: { type: 'disabled' },
      service_tier: 'auto',
      speed: null,
      inference_geo: null,
      container: null,
      output_config: {},
      cache_control: null,
      diagnostics: null,
    });
    const answer = await post(json(body));
    expect(answer.status, answer.text).toBe(200);
    expect(stack.fake.requests).toHaveLength(1);
    expect(stack.fake.requests[0]!.body).toEqual(body);
    const headers = Object.keys(stack.fake.requests[0]!.headers);
    expect(headers).not.toContain('anthropic-workspace-id');
    expect(headers).not.toContain('anthropic-user-profile-id');
  });

  it.each(['toString', 'constructor', 'hasOwnProperty', 'valueOf', '__proto__'])(
    'model "%s" (a key of Object.prototype) gets a 400 and the SDK prints nothing',
    async (model) => {
      const warn = vi.spyOn(console, 'warn');
      const answer = await post(json(messagesBody({ model })));
      expectRejected(answer, /^model: /);
      expect(warn).not.toHaveBeenCalled();
    },
  );

  it.each(['claude sonnet', '-claude', '.hidden', 'claude\u00e9', 'a\u0000b', 'claude/../../x?y'])(
    'model %j is not a model name: 400',
    async (model) => {
      expectRejected(await post(json(messagesBody({ model }))), /^model: '.*' is not a valid model name$/);
    },
  );

  it.each([
    [MODEL],
    ['claude-haiku-4-5-20251001'],
    ['claude-sonnet-4@20250514'],
    ['anthropic.claude-sonnet-5-v1:0'],
    ['arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-5-v1:0'],
  ])('model %s has the shape of a model name and reaches Claude', async (model) => {
    const answer = await post(json(messagesBody({ model })));
    expect(answer.status, answer.text).toBe(200);
    expect(stack.fake.requests).toHaveLength(1);
  });

  it.each([
    ['a Latin-1 é', [0xe9]],
    ['a lone continuation byte', [0x80]],
    ['a truncated 3-byte sequence', [0xe2, 0x82]],
    ['an overlong encoding of /', [0xc0, 0xaf]],
    ['a UTF-16 surrogate encoded in UTF-8', [0xed, 0xa0, 0x80]],
    ['a byte that never occurs in UTF-8', [0xff]],
  ])('a body that is not valid UTF-8 (%s) gets a 400, not U+FFFD sent to Claude', async (_what, raw) => {
    const answer = await post(bytesInContent(raw));
    expectRejected(answer, 'The request body is not valid UTF-8');
  });

  it('valid multi-byte UTF-8 passes, even when a character is split across chunks', async () => {
    const bytes = bytesInContent([...utf8('héllo 🎉 ✓')]);
    const cut = bytes.indexOf(0xf0) + 2; // inside the 4-byte emoji
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes.subarray(0, cut));
        controller.enqueue(bytes.subarray(cut));
        controller.close();
      },
    });
    const answer = await post(body);
    expect(answer.status, answer.text).toBe(200);
    expect(stack.fake.requests[0]!.body).toMatchObject({ messages: [{ content: 'héllo 🎉 ✓' }] });
  });
});

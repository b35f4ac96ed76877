import { describe, expect, it } from 'vitest';
import { DEFAULTS } from './options.js';
import { jsonNestingExceeds, validateMessagesBody } from './validate-request.js';

const limits = {
  maxBodyBytes: DEFAULTS.proxy.maxBodyBytes,
  allowedModels: new Set(['claude-sonnet-5']),
  maxTokensCap: 1000,
  forwardUpstreamClientErrors: true,
};
const valid = { model: 'claude-sonnet-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };

describe('jsonNestingExceeds', () => {
  it('counts arrays and objects together', () => {
    expect(jsonNestingExceeds('[{"a":[1]}]', 3)).toBe(false);
    expect(jsonNestingExceeds('[{"a":[[1]]}]', 3)).toBe(true);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(jsonNestingExceeds('{"a":"[[[[[[\\"[[[[["}', 1)).toBe(false);
    expect(jsonNestingExceeds('["\\\\", [[1]]]', 2)).toBe(true);
  });

  it('measures depth, not the number of brackets', () => {
    expect(jsonNestingExceeds('[[1],[2],[3],[4]]', 2)).toBe(false);
    expect(jsonNestingExceeds('['.repeat(100_000), 128)).toBe(true);
  });
});

describe('validateMessagesBody', () => {
  it('accepts a valid body and splits off stream', () => {
    const check = validateMessagesBody({ ...valid, stream: true }, limits);
    expect(check).toMatchObject({ ok: true, stream: true });
    expect(check.ok && 'stream' in check.params).toBe(false);
  });

  it.each([
    [[], 'The request body must be a JSON object'],
    [{ ...valid, model: undefined }, 'model: Field required'],
    [{ ...valid, model: 'claude-opus-9' }, "model: 'claude-opus-9' is not allowed on this route"],
    [{ ...valid, max_tokens: 0 }, 'max_tokens: must be a positive integer'],
    [{ ...valid, max_tokens: 1001 }, 'max_tokens: must be at most 1000 on this route'],
    [{ ...valid, messages: [] }, 'messages: must be a non-empty array'],
    [{ ...valid, messages: [{ role: 'system', content: 'x' }] }, "messages.0.role: must be 'user' or 'assistant'"],
    [
      { ...valid, messages: [{ role: 'user', content: 5 }] },
      'messages.0.content: must be a string or an array of content blocks',
    ],
    [{ ...valid, stream: 'yes' }, 'stream: must be a boolean'],
  ])('rejects %j with "%s"', (body, message) => {
    expect(validateMessagesBody(body, limits)).toEqual({
      ok: false,
      status: 400,
      type: 'invalid_request_error',
      message,
    });
  });
});

describe('validateMessagesBody: the allow-listed fields', () => {
  const open = { ...limits, allowedModels: undefined };

  it.each([
    ['workspace_id', { workspace_id: 'w' }, 'workspace_id: Extra inputs are not permitted'],
    ['user_profile_id', { user_profile_id: 'u' }, 'user_profile_id: Extra inputs are not permitted'],
    ['a beta-only field', { context_management: {} }, 'context_management: Extra inputs are not permitted'],
    ['a neutralized name', { 'a\r\nb': 1 }, 'a??b: Extra inputs are not permitted'],
    ['a name cut at 64 characters', { ['k'.repeat(100)]: 1 }, `${'k'.repeat(64)}: Extra inputs are not permitted`],
    ['an extra metadata key', { metadata: { tier: 1 } }, 'metadata.tier: Extra inputs are not permitted'],
  ])('refuses %s', (_what, extra, message) => {
    expect(validateMessagesBody({ ...valid, ...extra }, open)).toEqual({
      ok: false,
      status: 400,
      type: 'invalid_request_error',
      message,
    });
  });

  it.each([
    ['temperature', 1.5, 'temperature: must be a number from 0 to 1'],
    ['top_k', -1, 'top_k: must be a non-negative integer'],
    ['system', [{ type: 'image' }], 'system.0: must be a text block'],
    ['stop_sequences', ['a', 2], 'stop_sequences.1: must be a string'],
    ['tools', [null], 'tools.0: must be an object'],
    ['tool_choice', { name: 'x' }, 'tool_choice: must be an object with a type'],
    ['service_tier', 'priority', "service_tier: must be 'auto' or 'standard_only'"],
    ['speed', 'slow', "speed: must be 'standard' or 'fast'"],
    ['container', 5, 'container: must be a container id or an object'],
    ['metadata', { user_id: {} }, 'metadata.user_id: must be a string or null'],
  ])('names the field of a bad value: %s', (field, value, message) => {
    expect(validateMessagesBody({ ...valid, [field]: value }, open)).toMatchObject({ ok: false, message });
  });

  it('passes every allowed field through, and only those', () => {
    const body = {
      ...valid,
      system: 'Be brief.',
      temperature: 0,
      top_p: 1,
      top_k: 0,
      stop_sequences: [],
      tools: [],
      tool_choice: { type: 'none' },
      metadata: { user_id: null },
      thinking: { type: 'adaptive' },
      service_tier: 'standard_only',
      speed: 'fast',
      inference_geo: 'us',
      container: 'container_1',
      output_config: {},
      cache_control: { type: 'ephemeral' },
      diagnostics: {},
    };
    const check = validateMessagesBody({ ...body, stream: false }, open);
    expect(check).toEqual({ ok: true, params: body, stream: false });
  });

  it.each(['toString', 'constructor', 'valueOf', 'isPrototypeOf', '__proto__', 'a b', '-a', 'é', 'a\u0000'])(
    'refuses the model name %j',
    (model) => {
      const check = validateMessagesBody({ ...valid, model }, open);
      expect(check).toMatchObject({
        ok: false,
        message: expect.stringMatching(/^model: '.*' is not a valid model name$/),
      });
    },
  );

  it('checks allowedModels before the shape, so a listed name is the operator’s choice', () => {
    expect(validateMessagesBody({ ...valid, model: 'toString' }, limits)).toMatchObject({
      ok: false,
      message: "model: 'toString' is not allowed on this route",
    });
  });
});

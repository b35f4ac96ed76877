import { describe, expect, it } from 'vitest';
import { failureReason, ModelLabels, NO_MODEL, OTHER_MODEL, statusClass } from './labels.js';

describe('statusClass', () => {
  it('groups statuses by hundreds, keeps 499 apart and refuses what is not a status', () => {
    expect([200, 201, 400, 404, 429, 500, 503, 529].map(statusClass)).toEqual([
      '2xx',
      '2xx',
      '4xx',
      '4xx',
      '4xx',
      '5xx',
      '5xx',
      '5xx',
    ]);
    expect(statusClass(499)).toBe('499');
    expect([0, 99, 600, 200.5, Number.NaN].map(statusClass)).toEqual(['other', 'other', 'other', 'other', 'other']);
  });
});

describe('failureReason', () => {
  it("names an upstream answer by its Anthropic error type and anything else by the failure's kind", () => {
    expect(failureReason('http', 529)).toBe('overloaded_error');
    expect(failureReason('http', 429)).toBe('rate_limit_error');
    expect(failureReason('http', 500)).toBe('api_error');
    expect(failureReason('in-band', undefined, 'overloaded_error')).toBe('overloaded_error');
    expect(failureReason('in-band', undefined)).toBe('in-band');
    expect(failureReason('connection', undefined)).toBe('connection');
    expect(failureReason('stream-stalled', undefined, 'api_error')).toBe('stream-stalled');
  });

  it('never passes on a value that could grow the label set', () => {
    expect(failureReason('Some Kind\n', undefined)).toBe('unknown');
    expect(failureReason('in-band', undefined, 'x'.repeat(41))).toBe('in-band');
  });
});

describe('ModelLabels', () => {
  it('keeps model names up to the limit, then answers other', () => {
    const models = new ModelLabels(2, []);
    expect(models.label('claude-sonnet-5')).toBe('claude-sonnet-5');
    expect(models.label('claude-haiku-4-5')).toBe('claude-haiku-4-5');
    expect(models.label('claude-opus-5')).toBe(OTHER_MODEL);
    expect(models.label('claude-sonnet-5')).toBe('claude-sonnet-5');
    expect(models.label(undefined)).toBe(NO_MODEL);
    expect(models.label('')).toBe(NO_MODEL);
  });

  it('refuses names that are not model ids, and anything key-shaped or secret', () => {
    const models = new ModelLabels(20, ['gateway-token-abcdef123456']);
    expect(models.label('anthropic.claude-sonnet-5-v1:0')).toBe('anthropic.claude-sonnet-5-v1:0');
    expect(models.label('claude-3-5-haiku@20241022')).toBe('claude-3-5-haiku@20241022');
    expect(models.label('sk-ant-api03-abcdefghijklmnopqrstuvwxyz')).toBe(OTHER_MODEL);
    expect(models.label('gateway-token-abcdef123456')).toBe(OTHER_MODEL);
    expect(models.label('a b')).toBe(OTHER_MODEL);
    expect(models.label('x'.repeat(81))).toBe(OTHER_MODEL);
    expect(models.label('<script>')).toBe(OTHER_MODEL);
  });

  it('remembers a bounded number of names, refused ones included', () => {
    const models = new ModelLabels(1, []);
    for (let i = 0; i < 1000; i++) models.label(`made-up-${i}`);
    expect(models.label('made-up-0')).toBe('made-up-0');
    expect(models.label('made-up-999')).toBe(OTHER_MODEL);
  });
});

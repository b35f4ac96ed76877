import { describe, expect, it } from 'vitest';
import { expectStreamUsage, reportStreamUsage, type StreamUsage } from './stream-usage.js';

describe('stream usage', () => {
  it('hands the usage to the sink its call expects, once', () => {
    const call = {};
    const seen: StreamUsage[] = [];
    expectStreamUsage(call, (usage) => seen.push(usage));
    reportStreamUsage(call, { input_tokens: 1200, output_tokens: 85 });
    reportStreamUsage(call, { input_tokens: 1, output_tokens: 1 });
    expect(seen).toEqual([{ input_tokens: 1200, output_tokens: 85 }]);
  });

  it('reports nothing for a call nobody expects, nor to another call', () => {
    const seen: StreamUsage[] = [];
    expectStreamUsage({}, (usage) => seen.push(usage));
    reportStreamUsage({}, { input_tokens: 5, output_tokens: 2 });
    expect(seen).toEqual([]);
  });
});

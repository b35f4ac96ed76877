import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { AdmissionRegistry } from './admission.js';
import type { ClaudeClient } from './claude-client.js';
import { systemClock } from './clock.js';
import { sendMessage } from './create-message.js';
import { Deadline } from './deadline.js';
import { DEFAULTS } from './options.js';
import type { AttemptContext } from './retry-loop.js';
import { testMessage } from './testing/message.js';

// The real SDK, its fetch answered in-process; a real tracker behind `AdmissionRegistry.answers`.

const KEY = 'sk-ant-test-0123456789abcdef';
const params = { model: 'claude-x', max_tokens: 8, messages: [{ role: 'user' as const, content: 'hello there' }] };
const RATE_HEADERS = {
  'request-id': 'req_1',
  'anthropic-ratelimit-requests-limit': '50',
  'anthropic-ratelimit-requests-remaining': '42',
  'anthropic-ratelimit-requests-reset': new Date(Date.now() + 60_000).toISOString(),
};

function clientAnswering(answer: () => Response): ClaudeClient {
  return new Anthropic({ apiKey: KEY, maxRetries: 0, fetch: () => Promise.resolve(answer()) });
}

function setup() {
  const quiet = { active: false, emit: () => {} };
  const registry = new AdmissionRegistry({ ...DEFAULTS.rateLimits }, 'client_test', systemClock, quiet, [KEY]);
  const record = { upstreamAnswered: () => {}, messageAnswered: () => {} };
  const deadline = new Deadline(systemClock, 10_000, 'route-default');
  const context: AttemptContext = { signal: new AbortController().signal, timeout: 10_000, attempt: 0, deadline };
  return { registry, record, context };
}

describe('sendMessage: what the rate-limit tracker hears', () => {
  it("reads the answer's rate-limit headers and reconciles the estimate with the message's usage", async () => {
    const { registry, record, context } = setup();
    const client = clientAnswering(() => Response.json(testMessage({ inputTokens: 900 }), { headers: RATE_HEADERS }));
    const answer = await sendMessage(client, params, undefined, record, registry.answers, [KEY], context);
    expect(answer.data.usage.input_tokens).toBe(900);
    const [view] = registry.status().clients;
    expect(view!.limits.requests).toMatchObject({ limit: 50, remaining: 42 });
    // 900 tokens against an estimate of a few: the next estimates are scaled up.
    expect(view!.estimateRatio).toBeGreaterThan(1);
  });

  it("holds the client on a spend limit's 429, its message redacted", async () => {
    const { registry, record, context } = setup();
    const body = {
      type: 'error',
      error: {
        type: 'rate_limit_error',
        message: `Spend limit reached for key ${KEY}`,
        details: { error_code: 'enforced_spend_limit_reached' },
      },
    };
    const client = clientAnswering(() => Response.json(body, { status: 429, headers: { 'retry-after': '30' } }));
    await expect(
      sendMessage(client, params, undefined, record, registry.answers, [KEY], context),
    ).rejects.toMatchObject({
      status: 429,
    });
    const [view] = registry.status().clients;
    expect(view!.hold).toMatchObject({ reason: 'spend-limit', errorCode: 'enforced_spend_limit_reached' });
    expect(view!.hold!.message).toContain('[redacted]');
    expect(view!.hold!.message).not.toContain(KEY);
  });

  it('tells the tracker nothing when given nowhere to tell it (a fallback target)', async () => {
    const { registry, record, context } = setup();
    const client = clientAnswering(() => Response.json(testMessage({ inputTokens: 900 }), { headers: RATE_HEADERS }));
    await sendMessage(client, params, undefined, record, undefined, [KEY], context);
    expect(registry.status().clients).toEqual([]);
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import type { ClaudeClient } from './claude-client.js';
import { createClaudeGuard, type ClaudeGuard } from './guard.js';
import { ClaudeGuardError, tagRequest } from './guard-error.js';
import { errorResponse } from './response.js';

// Nothing here calls Claude: the guard only renders errors.
const client = { messages: { create: () => Promise.reject(new Error('not used')) } } as unknown as ClaudeClient;
const HEADER = 'x-correlation-id';
const GENERATED_ID = /^cg_[A-Za-z0-9_-]{24}$/;

const busy = (): ClaudeGuardError =>
  new ClaudeGuardError({
    status: 503,
    type: 'overloaded_error',
    message: 'Busy',
    outcome: 'breaker-open',
    headers: { 'retry-after': '3' },
  });

async function read(response: Response): Promise<{ request_id: string; error: { type: string; message: string } }> {
  return (await response.json()) as { request_id: string; error: { type: string; message: string } };
}

describe('errorResponse', () => {
  it('sends the id under the header it is given, and nowhere under x-request-id', async () => {
    const response = errorResponse(busy(), { requestId: 'corr-1', requestIdHeader: HEADER });
    expect(response.status).toBe(503);
    expect(response.headers.get(HEADER)).toBe('corr-1');
    expect(response.headers.get('x-request-id')).toBeNull();
    expect(response.headers.get('request-id')).toBe('corr-1');
    expect(response.headers.get('retry-after')).toBe('3');
    expect(response.headers.get('x-should-retry')).toBe('false');
    expect((await read(response)).request_id).toBe('corr-1');
  });

  it("prefers the upstream's well-formed id for request-id, and drops a malformed one", () => {
    const ids = { requestId: 'corr-2', requestIdHeader: HEADER };
    const upstream = errorResponse(busy(), { ...ids, upstreamRequestId: 'req_011CAbc' });
    expect(upstream.headers.get('request-id')).toBe('req_011CAbc');
    expect(upstream.headers.get('x-upstream-request-id')).toBe('req_011CAbc');
    const malformed = errorResponse(busy(), { ...ids, upstreamRequestId: 'not an id\r\nx: y' });
    expect(malformed.headers.get('request-id')).toBe('corr-2');
    expect(malformed.headers.get('x-upstream-request-id')).toBeNull();
  });
});

describe('tagRequest', () => {
  it('tags once: the request that raised the error keeps it', () => {
    const error = tagRequest(busy(), 'inner', 'x-inner');
    expect(tagRequest(error, 'outer', 'x-outer')).toBe(error);
    expect(error.requestId).toBe('inner');
    expect(error.requestIdHeader).toBe('x-inner');
  });
});

describe('guard.errorResponse', () => {
  let guard: ClaudeGuard | undefined;
  afterEach(() => {
    guard?.close();
    guard = undefined;
  });
  const start = (): ClaudeGuard => (guard = createClaudeGuard({ client, requestIdHeader: 'X-Correlation-Id' }));

  it("answers an untagged error under the configured header with the caller's valid id, else a fresh one", async () => {
    const g = start();
    const echoed = g.errorResponse(busy(), new Headers({ [HEADER]: 'corr-3', 'x-request-id': 'not-ours' }));
    expect(echoed.headers.get(HEADER)).toBe('corr-3');
    expect(echoed.headers.get('x-request-id')).toBeNull();
    expect((await read(echoed)).request_id).toBe('corr-3');

    for (const headers of [undefined, new Headers({ [HEADER]: 'bad id!' })]) {
      const fresh = g.errorResponse(busy(), headers);
      expect(fresh.headers.get(HEADER)).toMatch(GENERATED_ID);
      expect((await read(fresh)).request_id).toBe(fresh.headers.get(HEADER));
    }
  });

  it('answers a tagged error with the id and header of the request it ended', async () => {
    const g = start();
    const error = tagRequest(busy(), 'corr-4', 'x-other-guard-id');
    const response = g.errorResponse(error, new Headers({ [HEADER]: 'corr-5' }));
    expect(response.headers.get('x-other-guard-id')).toBe('corr-4');
    expect(response.headers.get(HEADER)).toBeNull();
    expect((await read(response)).request_id).toBe('corr-4');
  });

  it("answers a foreign error with a 500 that says nothing of the error's own text", async () => {
    const g = start();
    const response = g.errorResponse(new Error('db password hunter2'), new Headers({ [HEADER]: 'corr-6' }));
    expect(response.status).toBe(500);
    expect(response.headers.get(HEADER)).toBe('corr-6');
    const body = await read(response);
    expect(body.error).toEqual({ type: 'api_error', message: 'Internal server error' });
    expect(JSON.stringify(body)).not.toContain('hunter2');
  });
});

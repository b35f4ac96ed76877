import Anthropic from '@anthropic-ai/sdk';
import { ClaudeGuardError, createClaudeGuard, sdkOptions, type ClaudeGuard } from '@claude-guard/core';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  API_KEY,
  LATE_HEADERS,
  MODEL,
  PROMPT,
  manualClock,
  runOutAtUpstream,
  type ManualClock,
} from '../support/index.js';

// guard.run from a background job (no request, no adapter): its own deadline (deadlineMs) and the SDK
// options of each attempt (sdkOptions), against fake-anthropic through the official SDK.

const params = { model: MODEL, max_tokens: 50, messages: [{ role: 'user' as const, content: PROMPT }] };

interface Job {
  fake: FakeAnthropic;
  guard: ClaudeGuard;
  client: Anthropic;
  clock: ManualClock;
}

const jobs: Job[] = [];
afterEach(async () => {
  for (const job of jobs.splice(0)) {
    job.guard.close();
    await job.fake.close();
  }
});

/** A job on a fresh fake; on a manual clock unless `realTime` (a retry's backoff waits on the clock). */
async function startJob(realTime = false): Promise<Job> {
  const fake = await createFakeAnthropic();
  const clock = manualClock();
  // The job's own client, with the SDK's defaults: sdkOptions must turn its retries off per call.
  const client = new Anthropic({ apiKey: API_KEY, baseURL: fake.url });
  const guard = createClaudeGuard({
    client,
    ...(realTime ? {} : { clock }),
    deadline: { reserveMs: 0 },
    retry: { baseDelayMs: 1, maxDelayMs: 1 },
  });
  const job = { fake, guard, client, clock };
  jobs.push(job);
  return job;
}

describe('guard.run from a background job', () => {
  it("makes every attempt with the attempt's signal, timeout and maxRetries: 0 through sdkOptions", async () => {
    const { fake, guard, client } = await startJob(true);
    fake.enqueue(529, 'ok');
    const message = await guard.run('digest', (attempt) => client.messages.create(params, sdkOptions(attempt)), {
      deadlineMs: 240_000,
    });
    expect(message.type).toBe('message');
    // Two attempts, both the guard's: the SDK retried neither, and each was told the time it had.
    expect(fake.requests.map((r) => r.headers['x-stainless-retry-count'])).toEqual(['0', '0']);
    // The SDK sends whole seconds, rounded down: 240 s, less the milliseconds already spent (its own default is 600).
    const timeouts = fake.requests.map((r) => r.headers['x-stainless-timeout']);
    expect(timeouts).toEqual([expect.stringMatching(/^2(39|40)$/), expect.stringMatching(/^2(39|40)$/)]);
  });

  it("aborts the upstream request when the job's own deadline runs out: 504, naming it", async () => {
    const { fake, guard, client, clock } = await startJob();
    fake.enqueue(LATE_HEADERS);
    const run = guard.run('digest', (attempt) => client.messages.create(params, sdkOptions(attempt)), {
      deadlineMs: 90_000,
    });
    const error = await runOutAtUpstream(
      fake,
      clock,
      () =>
        run.then(
          () => undefined,
          (caught: unknown) => caught,
        ),
      90_000,
    );
    expect(error).toBeInstanceOf(ClaudeGuardError);
    expect(error).toMatchObject({ status: 504, outcome: 'deadline-exceeded' });
    expect((error as ClaudeGuardError).message).toContain('90000 ms');
    await fake.settled();
    expect(fake.requests.map((r) => r.outcome)).toEqual(['client-aborted']);
  });

  it('keeps headers of your own, and a signal of yours aborts the attempt too', async () => {
    const { fake, guard, client } = await startJob();
    fake.enqueue(LATE_HEADERS);
    const mine = new AbortController();
    const run = guard.run('digest', (attempt) =>
      client.messages.create(params, sdkOptions(attempt, { headers: { 'x-job': 'nightly' }, signal: mine.signal })),
    );
    await vi.waitFor(() => expect(fake.requests).toHaveLength(1), { timeout: 5_000, interval: 2 });
    mine.abort();
    await expect(run).rejects.toBeInstanceOf(ClaudeGuardError);
    await fake.settled();
    expect(fake.requests[0]!.headers['x-job']).toBe('nightly');
    expect(fake.requests[0]!.outcome).toBe('client-aborted');
  });
});

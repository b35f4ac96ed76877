import Anthropic from '@anthropic-ai/sdk';
import { createFakeAnthropic, type FakeAnthropic } from '@claude-guard/fake-anthropic';

/** Where the example's Claude calls go. */
export interface ExampleUpstream {
  client: Anthropic;
  /** Present when no key or base URL was configured: the embedded fake. */
  fake: FakeAnthropic | undefined;
  description: string;
  close(): Promise<void>;
}

/**
 * Uses `ANTHROPIC_BASE_URL` / `ANTHROPIC_API_KEY` when either is set; otherwise starts
 * `fake-anthropic` in-process (streaming at a visible pace) so the demo needs no key.
 *
 * @example
 * ```ts
 * const upstream = await startUpstream(process.env);
 * console.log(upstream.description);
 * ```
 */
export async function startUpstream(env: NodeJS.ProcessEnv): Promise<ExampleUpstream> {
  if (env['ANTHROPIC_API_KEY'] || env['ANTHROPIC_BASE_URL']) {
    // The guard owns retries; see the README's "Migrating from raw SDK calls".
    const client = new Anthropic({ maxRetries: 0 });
    return {
      client,
      fake: undefined,
      description: `the Claude API at ${client.baseURL}`,
      close: async () => {},
    };
  }
  const fake = await createFakeAnthropic({
    replyWords: 60,
    // A visible pace for the demo; tests set FAKE_ANTHROPIC_TOKEN_DELAY_MS=0.
    tokenDelayMs: Number(env['FAKE_ANTHROPIC_TOKEN_DELAY_MS'] ?? 40) || 0,
    onRequestEnd: (record) => {
      if (record.outcome === 'client-aborted') {
        console.log(
          JSON.stringify({
            msg: 'fake-anthropic: upstream generation stopped',
            id: record.id,
            events: record.eventsSent,
          }),
        );
      }
    },
  });
  return {
    client: new Anthropic({ apiKey: 'fake-anthropic-key', baseURL: fake.url, maxRetries: 0 }),
    fake,
    description: `the embedded fake-anthropic at ${fake.url} (no ANTHROPIC_API_KEY set)`,
    close: () => fake.close(),
  };
}

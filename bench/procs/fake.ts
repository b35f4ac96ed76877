// fake-anthropic in its own process, driven over IPC. Its request log uses the shared wall clock
// (`wallNow`) so the driver can line its records up with the load generator's.
import { createFakeAnthropic, type FakeAnthropicBehaviour } from '@claude-guard/fake-anthropic';
import { childConfig, serveParent, wallNow } from '../lib/ipc.js';

/** What `log` returns: one entry per upstream request, as parallel arrays. */
export interface FakeLog {
  arrivedAt: number[];
  status: (number | null)[];
  /** The `#N` tag of the user request behind each upstream request (open-loop bodies say `bench #N`). */
  userIndex: (number | null)[];
}

function userIndex(body: unknown): number | null {
  const match = /bench #(\d+)/.exec(JSON.stringify(body) ?? '');
  return match ? Number(match[1]) : null;
}

export interface FakeReady {
  url: string;
}

const fake = await createFakeAnthropic({ ...childConfig<FakeAnthropicBehaviour>(), now: wallNow });

serveParent(
  { url: fake.url } satisfies FakeReady,
  {
    /** Applies the behaviour and answers with the wall time it took effect. */
    setDefault: (behaviour: FakeAnthropicBehaviour) => {
      fake.setDefault(behaviour);
      return wallNow();
    },
    reset: () => {
      fake.reset();
      return null;
    },
    count: () => fake.requests.length,
    log: (): FakeLog => ({
      arrivedAt: fake.requests.map((r) => r.arrivedAt),
      status: fake.requests.map((r) => r.status ?? null),
      userIndex: fake.requests.map((r) => userIndex(r.body)),
    }),
  },
  () => fake.close(),
);

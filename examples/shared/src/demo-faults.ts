import type { FakeAnthropic } from '@claude-guard/fake-anthropic';

/** The fake's misbehaviours the demo page can trigger for the next requests. */
export const DEMO_FAULTS = {
  overloaded: { label: 'Overloaded (529) x3', apply: (fake: FakeAnthropic) => fake.enqueue(529, 529, 529) },
  'rate-limited': {
    label: '429 with retry-after 1 s',
    apply: (fake: FakeAnthropic) => fake.enqueue({ kind: 'status', status: 429, headers: { 'retry-after': '1' } }),
  },
  'stall-mid-stream': {
    label: 'Stall mid-stream',
    apply: (fake: FakeAnthropic) => fake.enqueue({ kind: 'stall', afterEvents: 8 }),
  },
  'slow-start': {
    label: 'Slow start (5 s)',
    apply: (fake: FakeAnthropic) => fake.enqueue({ kind: 'slow', firstEventDelayMs: 5_000 }),
  },
  reset: { label: 'Connection reset', apply: (fake: FakeAnthropic) => fake.enqueue({ kind: 'reset' }) },
  outage: {
    label: 'Outage (10 x 500)',
    apply: (fake: FakeAnthropic) => fake.enqueue(...Array.from({ length: 10 }, () => 500)),
  },
} as const;

/** A fault name the demo accepts. */
export type DemoFaultName = keyof typeof DEMO_FAULTS;

/** True when `name` is one of {@link DEMO_FAULTS}. */
export function isDemoFault(name: unknown): name is DemoFaultName {
  return typeof name === 'string' && Object.hasOwn(DEMO_FAULTS, name);
}

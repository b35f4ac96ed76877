import { afterEach, describe, expect, it } from 'vitest';
import { ADAPTERS, startStack, type Stack } from '../support/index.js';
import {
  DEFAULT_DEADLINE_MS,
  PROMPT_MARKER,
  UPSTREAM_MARKER,
  VARIANTS,
  call,
  captureConsole,
  echoesKey,
  expectCleanRecords,
  expectNothingInternal,
  scenarios,
  type Exchange,
  type Scenario,
} from './sweep.js';

/** Recognizable as an Anthropic key (the shape-based redaction catches it)... */
const ANTHROPIC_KEY = 'sk-ant-api03-SECRET_Zq7Xw9Lm2Pv4Rt6Yb8Nc0Kd-xyzAA';
/** ...and one that is not, so only the guard's own secret list can catch it. */
const PLAIN_KEY = 'corp-gateway-token-Hj5Ww2Ee8Rr1Tt4Yy7';
const KEYS = [
  { name: 'an sk-ant key', key: ANTHROPIC_KEY, core: 'Zq7Xw9Lm2Pv4Rt6Yb8Nc0Kd', all: true },
  // Only where the upstream hands the key back: elsewhere its shape cannot matter.
  { name: 'a key of another shape', key: PLAIN_KEY, core: 'Hj5Ww2Ee8Rr1Tt4Yy7', all: false },
];

/**
 * A heartbeat no request lives to see: every scenario's deadline is shorter, so its timer (on the same
 * clock) ends the request first. A stream that is not `inBand` commits on a first event or not at all,
 * never on a heartbeat, however slowly a loaded machine runs its attempts.
 */
const NO_HEARTBEAT_MS = 60_000;

/**
 * The guard's settings for a scenario: short timeouts so stalls end fast, and one retry. Only the
 * `inBand` scenarios get the short heartbeat that commits their streams before the failure; the
 * others must answer with an HTTP status, which a heartbeat commit would turn into an in-band error.
 */
function sweepStack(adapter: (typeof ADAPTERS)[number], key: string, scenario: Scenario): Promise<Stack> {
  return startStack({
    adapter,
    apiKey: key,
    guard: {
      retry: { maxAttempts: 2 },
      stream: {
        firstEventTimeoutMs: 500,
        idleTimeoutMs: 250,
        heartbeatMs: scenario.inBand ? 100 : NO_HEARTBEAT_MS,
      },
    },
  });
}

function records(stack: Stack, consoleLines: string[]): string {
  return [
    ...stack.logs.map((line) => JSON.stringify(line)),
    ...stack.events.map((event) => JSON.stringify(event)),
    ...consoleLines,
  ].join('\n');
}

/** Some sign that the request failed: an error status, or an `error` event in a committed stream. */
function failed(exchange: Exchange): boolean {
  return exchange.status >= 400 || /^event: error$/m.test(exchange.text);
}

describe.each(ADAPTERS)('the API key and internals never leak (%s)', (adapter) => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  describe.each(KEYS)('with $name', ({ key, core, all }) => {
    const list = scenarios(key).filter((scenario) => all || echoesKey(scenario, key));
    it.each(list.map((scenario) => [scenario.name, scenario] as const))(
      '%s: no key, address, stack or raw upstream text in any response, log line or event',
      async (_name, scenario) => {
        const consoleLines = captureConsole();
        stack = await sweepStack(adapter, key, scenario);
        const s = stack;
        s.fake.setDefault({ faultRate: 1, fault: scenario.fault, tokenDelayMs: 10, ...scenario.timing });
        const exchanges = await Promise.all(
          VARIANTS.map((variant) => call(s, variant, scenario.deadlineMs ?? DEFAULT_DEADLINE_MS)),
        );
        await s.fake.settled();

        for (const exchange of exchanges) expectNothingInternal(exchange, key, core, s.fake.port);
        expect(s.logs.length).toBe(VARIANTS.length);
        expectCleanRecords(records(s, consoleLines), key, core);

        if (scenario.fault === 'ok') {
          // The completion carried the prompt's marker to the client: the logs held it back.
          for (const exchange of exchanges) expect(exchange.status).toBe(200);
          for (const exchange of exchanges) expect(exchange.text).toContain(PROMPT_MARKER);
        } else {
          for (const exchange of exchanges) expect(failed(exchange), exchange.variant.name).toBe(true);
        }
        if (scenario.inBand) {
          for (const exchange of exchanges.filter((e) => e.variant.stream)) {
            expect(exchange.status, exchange.variant.name).toBe(200);
            expect(exchange.text, exchange.variant.name).toMatch(/^event: error$/m);
          }
        }
        if (typeof scenario.fault === 'object' && scenario.fault.kind === 'status' && scenario.fault.status < 500) {
          // The passthrough forwarded the upstream's 4xx message, with the key cut out.
          const [proxy] = exchanges;
          expect(proxy?.status).toBe(scenario.fault.status);
          expect(proxy?.text).toContain(`${UPSTREAM_MARKER}: rejected (api key: [redacted])`);
        }
      },
    );
  });

  it('an open breaker answers without leaking anything either', async () => {
    const consoleLines = captureConsole();
    stack = await startStack({
      adapter,
      apiKey: ANTHROPIC_KEY,
      guard: { retry: { maxAttempts: 1 }, breaker: { volumeThreshold: 2, errorThresholdPercentage: 10 } },
    });
    const s = stack;
    s.fake.setDefault({ faultRate: 1, fault: { kind: 'status', status: 529, echoApiKey: true } });
    const exchanges: Exchange[] = [];
    for (const variant of [...VARIANTS, ...VARIANTS]) exchanges.push(await call(s, variant, DEFAULT_DEADLINE_MS));
    // Both breakers opened, and the later calls were refused with 503.
    expect(s.events.filter((event) => event.type === 'breaker-open')).toHaveLength(2);
    expect(exchanges.filter((exchange) => exchange.status === 503).length).toBeGreaterThan(0);
    for (const exchange of exchanges) expectNothingInternal(exchange, ANTHROPIC_KEY, 'Zq7Xw9Lm2Pv4', s.fake.port);
    expectCleanRecords(records(s, consoleLines), ANTHROPIC_KEY, 'Zq7Xw9Lm2Pv4');
  });
});

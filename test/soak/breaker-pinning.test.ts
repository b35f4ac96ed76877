import { afterEach, describe, expect, it } from 'vitest';
import { ADAPTERS, MODEL, startStack, type Stack } from '../support/index.js';

/**
 * Issue 10 item 2, timed: after an outage, with the upstream healthy again (but slower than 20 ms),
 * an attacker fires a request with `x-request-timeout-ms: 20` at the very moment the breaker goes
 * half-open (it hears the transition as it happens, which is more than `/guard/status` ever told)
 * and keeps sending them at 20 per second, while legitimate clients send one request every 100 ms.
 * Before the fix every half-open trial was the attacker's, ended neutral and re-opened the breaker.
 */

const RESET_MS = 300;
const UPSTREAM_LATENCY_MS = 60;
const ATTACK_EVERY_MS = 50;
const LEGIT_EVERY_MS = 100;
/** The run's bound: about 4 s of legitimate traffic. */
const MAX_LEGIT_REQUESTS = 40;
/** Legitimate successes wanted after recovery before the run stops early. */
const WANTED_AFTER_CLOSE = 10;

const BODY = JSON.stringify({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'pin me' }] });

async function post(stack: Stack, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`${stack.base}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: BODY,
  });
  await response.arrayBuffer();
  return response.status;
}

const attack = (stack: Stack): Promise<number> => post(stack, { 'x-request-timeout-ms': '20' }).catch(() => -1);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function count(stack: Stack, type: string): number {
  return stack.events.filter((event) => event.type === type).length;
}

function proxyState(stack: Stack): string | undefined {
  return stack.guard.status().breakers.find((b) => b.key === 'proxy')?.state;
}

describe.each(ADAPTERS)('soak: one client timed to the half-open moment cannot pin the breaker (%s)', (adapter) => {
  let stack: Stack | undefined;
  let stopAttack: (() => void) | undefined;
  afterEach(async () => {
    stopAttack?.();
    await stack?.close();
    stack = undefined;
  });

  it('the breaker closes after the outage and legitimate requests succeed, under a 20 ms-deadline attacker', async () => {
    const s = await startStack({
      adapter,
      guard: {
        deadline: { defaultMs: 5_000 },
        retry: { maxAttempts: 1 },
        breaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeout: RESET_MS },
      },
    });
    stack = s;

    // The outage: legitimate requests fail until the breaker opens.
    s.fake.setDefault({ faultRate: 1, fault: 500 });
    for (let i = 0; i < 10 && proxyState(s) !== 'open'; i++) expect(await post(s)).toBe(500);
    expect(proxyState(s)).toBe('open');
    // Over: healthy, but slower than the attacker's budget.
    s.fake.setDefault({ faultRate: 1, fault: { kind: 'delay-headers', ms: UPSTREAM_LATENCY_MS } });

    const attacks: Promise<number>[] = [];
    const unsubscribe = s.guard.on((event) => {
      if (event.type === 'breaker-half-open') attacks.push(attack(s));
    });
    const timer = setInterval(() => attacks.push(attack(s)), ATTACK_EVERY_MS);
    stopAttack = () => {
      clearInterval(timer);
      unsubscribe();
    };

    const legit: { status: number; afterClose: boolean }[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < MAX_LEGIT_REQUESTS; i++) {
      const afterClose = count(s, 'breaker-close') > 0;
      pending.push(post(s).then((status) => void legit.push({ status, afterClose })));
      if (legit.filter((r) => r.afterClose && r.status === 200).length >= WANTED_AFTER_CLOSE) break;
      await sleep(LEGIT_EVERY_MS);
    }
    await Promise.all(pending);
    stopAttack();
    const attackStatuses = await Promise.all(attacks);

    // The attacker did try, at the half-open moment and after.
    expect(attackStatuses.length).toBeGreaterThan(0);
    expect(attackStatuses.every((status) => status === 503 || status === 504)).toBe(true);
    // Its neutral outcomes never re-opened the breaker: one open (the outage), then closed.
    expect(count(s, 'breaker-open')).toBe(1);
    expect(count(s, 'breaker-close')).toBe(1);
    expect(proxyState(s)).toBe('closed');
    // Legitimate traffic: 200s after recovery, and every request sent once it was closed succeeded.
    const afterClose = legit.filter((r) => r.afterClose);
    expect(afterClose.length).toBeGreaterThanOrEqual(WANTED_AFTER_CLOSE);
    expect(afterClose.map((r) => r.status)).toEqual(afterClose.map(() => 200));
    expect(legit.every((r) => r.status === 200 || r.status === 503)).toBe(true);
  }, 15_000);
});

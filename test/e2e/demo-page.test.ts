import Anthropic from '@anthropic-ai/sdk';
import type { GuardLogger } from '@claude-guard/core';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, errors, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startHonoExample } from '../../examples/hono/src/start.js';
import { textOf } from '../support/index.js';

// The demo page of the Hono example, driven in Debian's Chromium against the example started
// in-process with its embedded fake-anthropic. Waits are bounded; nothing asserts on durations.

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const SCREENSHOT = `${ARTIFACTS}demo-page.png`;
const TEST_MS = 30_000;
const WAIT_MS = 10_000;
const MESSAGE = 'Tell me about circuit breakers';

type Example = Awaited<ReturnType<typeof startHonoExample>>;
type LogLine = Record<string, unknown>;

let example: Example;
let browser: Browser;
let context: BrowserContext;
const logLines: LogLine[] = [];
const pageErrors: string[] = [];

const logger: GuardLogger = {
  info: (record, message) => void logLines.push({ msg: message, ...record }),
};

function fake() {
  const upstream = example.upstream.fake;
  if (!upstream) throw new Error('The example should run on its embedded fake');
  return upstream;
}

async function openPage(): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${example.url}/`);
  // The fault buttons are only served with the embedded fake; they also mean the page's script ran.
  await page.locator('#faults button[data-fault]').first().waitFor({ timeout: WAIT_MS });
  return page;
}

async function queueFault(page: Page, fault: string): Promise<void> {
  await page.click(`#faults button[data-fault="${fault}"]`);
  await page.waitForFunction(
    () => document.getElementById('fault-note')!.textContent.startsWith('Queued:'),
    undefined,
    {
      timeout: WAIT_MS,
    },
  );
}

/** Submits the chat form and waits until the answer is finished, either way. */
async function send(page: Page): Promise<string> {
  await page.click('#send');
  const state = await page.waitForFunction(
    () => {
      const value = document.getElementById('answer')!.dataset['state'];
      return value === 'done' || value === 'error' ? value : '';
    },
    undefined,
    { timeout: WAIT_MS },
  );
  return state.jsonValue();
}

/**
 * Waits up to `ms` for the page's breaker panel to show `key` in `state`; returns that breaker's
 * text then, or `undefined` when the panel did not show it in time.
 */
async function panelShows(page: Page, key: string, state: string, ms: number): Promise<string | undefined> {
  try {
    const text = await page.waitForFunction(
      ([k, s]) => {
        const breaker = document.querySelector(`.breaker[data-key="${k}"]`);
        return breaker?.querySelector('.state')?.textContent === s ? breaker.textContent : '';
      },
      [key, state] as const,
      { timeout: ms },
    );
    return await text.jsonValue();
  } catch (error) {
    if (error instanceof errors.TimeoutError) return undefined;
    throw error;
  }
}

/** The breaker's state as the page shows it (the DOM text; CSS upper-cases it on screen). */
async function breakerState(page: Page, key: string): Promise<string | null> {
  return page.locator(`.breaker[data-key="${key}"] .state`).textContent({ timeout: WAIT_MS });
}

beforeAll(async () => {
  example = await startHonoExample(
    {
      PORT: '0',
      HOST: '127.0.0.1',
      CLAUDE_GUARD_BREAKER_VOLUME: '2',
      CLAUDE_GUARD_BREAKER_RESET_MS: '1000',
      CLAUDE_GUARD_STREAM_IDLE_MS: '500',
      CLAUDE_GUARD_HEARTBEAT_MS: '200',
    },
    logger,
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
});

afterEach(async () => {
  for (const page of context?.pages() ?? []) await page.close();
  // Whatever a failed test left queued must not leak into the next one.
  example?.upstream.fake?.reset();
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await example?.close();
});

describe('demo page (Hono example, headless Chromium)', () => {
  it(
    'streams an answer into the page, word by word, equal to the upstream reply',
    async () => {
      const page = await openPage();
      // Every change of the answer's text, recorded in the page as it happens.
      await page.evaluate(() => {
        const answer = document.getElementById('answer')!;
        const seen: string[] = [];
        Object.assign(window, { seenAnswers: seen });
        new MutationObserver(() => seen.push(answer.textContent)).observe(answer, {
          childList: true,
          characterData: true,
          subtree: true,
        });
      });
      const before = fake().requests.length;

      expect(await send(page)).toBe('done');

      const text = (await page.locator('#answer').textContent()) ?? '';
      const seen = await page.evaluate(() => (window as unknown as { seenAnswers: string[] }).seenAnswers);
      const growing = seen.filter((value) => value.length > 0);
      expect(new Set(growing).size).toBeGreaterThanOrEqual(2);
      // Each observation extends the one before; the last one is the final answer.
      for (const [i, partial] of growing.entries()) {
        expect(text.startsWith(partial)).toBe(true);
        if (i > 0) expect(partial.length).toBeGreaterThan(growing[i - 1]!.length);
      }
      expect(growing.at(-1)).toBe(text);
      await expect(page.locator('#error').innerText()).resolves.toBe('');
      await expect(page.locator('#meta').innerText()).resolves.toMatch(/^Done in \d+ ms, 60 output tokens/);

      // The fake's reply is deterministic: ask it directly (no guard) for the same message.
      expect(
        fake()
          .requests.slice(before)
          .map((r) => [r.path, r.stream, r.outcome]),
      ).toEqual([['/v1/messages', true, 'completed']]);
      const direct = new Anthropic({ apiKey: 'fake-anthropic-key', baseURL: fake().url, maxRetries: 0 });
      const reply = await direct.messages.create({
        model: 'claude-sonnet-5',
        max_tokens: 1024,
        messages: [{ role: 'user', content: MESSAGE }],
      });
      expect(text).toBe(textOf(reply));
    },
    TEST_MS,
  );

  it(
    'shows timeout_error when the upstream stalls mid-stream',
    async () => {
      // The example's fake logs the generation it stopped; keep it out of the test output.
      vi.spyOn(console, 'log').mockImplementation(() => {});
      const page = await openPage();
      await queueFault(page, 'stall-mid-stream');

      expect(await send(page)).toBe('error');

      await expect(page.locator('#error').innerText()).resolves.toContain('timeout_error');
      await expect(page.locator('#answer').getAttribute('class')).resolves.toBe('error');
      // Part of the answer arrived before the stall.
      expect((await page.locator('#answer').innerText()).length).toBeGreaterThan(0);
      await fake().settled();
      expect(fake().requests.at(-1)).toMatchObject({ fault: { kind: 'stall' }, outcome: 'client-aborted' });
      await expect.poll(() => logLines.at(-1), { timeout: WAIT_MS }).toMatchObject({ outcome: 'stream-stalled' });
    },
    TEST_MS,
  );

  it(
    'shows the chat breaker open during an outage and closed after recovery',
    async () => {
      const page = await openPage();
      await queueFault(page, 'outage');

      // Send until the panel shows the chat breaker open. It is open for 1 s at a time: should the
      // panel (polling every 500 ms) miss that, the next send is the half-open trial, which meets
      // another queued 500 and opens the breaker again.
      let shown: string | undefined;
      for (let sends = 0; sends < 6 && shown === undefined; sends++) {
        expect(await send(page)).toBe('error');
        await expect(page.locator('#error').innerText()).resolves.toMatch(/^(api_error|overloaded_error): /);
        shown = await panelShows(page, 'chat', 'open', 1_500);
      }
      expect(shown).toMatch(/^chat open - half-open in \d+ s/);

      // The outage is over (the rest of its queued 500s are dropped); after the reset timeout the
      // breaker lets one trial through, and its success closes the breaker.
      fake().reset();
      await expect.poll(() => breakerState(page, 'chat'), { timeout: 5_000 }).toBe('half-open');
      expect(await send(page)).toBe('done');
      await expect.poll(() => breakerState(page, 'chat'), { timeout: 5_000 }).toBe('closed');
      await expect(page.locator('#error').innerText()).resolves.toBe('');
      expect(fake().requests.map((r) => r.outcome)).toEqual(['completed']);
    },
    TEST_MS,
  );

  it(
    'draws requests, retries and the breaker live from /metrics, and the charts move with an outage',
    async () => {
      const page = await openPage();
      /** The live card of `name`, as numbers: the highest rates in its window and its breaker states. */
      const card = (name: string) =>
        page.evaluate((n) => {
          const element = document.querySelector<HTMLElement>(`.live[data-name="${n}"]`);
          if (!element) return undefined;
          return {
            requestsMax: Number(element.dataset['requestsMax']),
            retriesMax: Number(element.dataset['retriesMax']),
            states: element.dataset['states'] ?? '',
            lines: element.querySelectorAll('svg.rates polyline').length,
            cells: element.querySelectorAll('svg.strip rect').length,
          };
        }, name);

      // A clean answer: the chat route's chart shows requests and no retry, its breaker closed (0).
      expect(await send(page)).toBe('done');
      await expect.poll(async () => (await card('chat'))?.requestsMax ?? 0, { timeout: WAIT_MS }).toBeGreaterThan(0);
      const before = (await card('chat'))!;
      expect(before).toMatchObject({ retriesMax: 0, lines: 2 });
      expect(before.states).toMatch(/^0+$/);
      expect(before.cells).toBe(before.states.length);

      // The outage button: retries climb and the breaker's strip turns open (1), as the panel above says.
      await queueFault(page, 'outage');
      let shown: string | undefined;
      for (let sends = 0; sends < 6 && shown === undefined; sends++) {
        expect(await send(page)).toBe('error');
        shown = await panelShows(page, 'chat', 'open', 1_500);
      }
      expect(shown).toBeDefined();
      await expect.poll(async () => (await card('chat'))?.retriesMax ?? 0, { timeout: WAIT_MS }).toBeGreaterThan(0);
      await expect.poll(async () => (await card('chat'))?.states ?? '', { timeout: WAIT_MS }).toMatch(/^0+[12]*1/);
      await expect(page.locator('.live[data-name="chat"] .legend').innerText()).resolves.toMatch(
        /^chat \d+\.\d req\/s \d+\.\d retries\/s$/,
      );
      // Leave the breaker closed for the next test: the outage is over, the trial after resetTimeout closes it.
      fake().reset();
      await expect.poll(() => breakerState(page, 'chat'), { timeout: 5_000 }).toBe('half-open');
      expect(await send(page)).toBe('done');
      await expect.poll(() => breakerState(page, 'chat'), { timeout: 5_000 }).toBe('closed');
    },
    TEST_MS,
  );

  it(
    'saves a screenshot of the page after an answer',
    async () => {
      const page = await openPage();
      expect(await send(page)).toBe('done');
      await expect.poll(() => breakerState(page, 'chat'), { timeout: 5_000 }).toBe('closed');
      await expect(page.locator('#fault-panel').isVisible()).resolves.toBe(true);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      // A PNG signature, and not an empty image.
      const png = readFileSync(SCREENSHOT);
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      expect(png.length).toBeGreaterThan(10_000);
    },
    TEST_MS,
  );

  it(
    'stops the upstream generation when the page is closed mid-stream',
    async () => {
      const fakeLog = vi.spyOn(console, 'log').mockImplementation(() => {});
      fake().setDefault({ replyWords: 400, tokenDelayMs: 20 });
      const page = await openPage();
      const linesBefore = logLines.length;
      const requestsBefore = fake().requests.length;
      await page.click('#send');
      await page.waitForFunction(() => document.getElementById('answer')!.textContent.length > 0, undefined, {
        timeout: WAIT_MS,
      });

      await page.close();

      await fake().settled();
      const requests = fake().requests.slice(requestsBefore);
      expect(requests).toHaveLength(1);
      expect(requests[0]).toMatchObject({ outcome: 'client-aborted', stream: true });
      // Stopped well before the 400 words (about 400 events) were sent.
      expect(requests[0]!.eventsSent).toBeLessThan(400);
      await expect
        .poll(() => logLines.slice(linesBefore), { timeout: WAIT_MS })
        .toEqual([
          expect.objectContaining({
            msg: 'claude-guard request',
            route: 'chat',
            outcome: 'client-aborted',
            upstreamRequestId: requests[0]!.id,
          }),
        ]);
      expect(fakeLog).toHaveBeenCalledWith(expect.stringContaining('upstream generation stopped'));
    },
    TEST_MS,
  );

  it(
    "the page's SSE reader handles CRLF, CR and events split across chunks",
    async () => {
      const page = await openPage();
      const events = await page.evaluate(async () => {
        const encoder = new TextEncoder();
        const bytes = encoder.encode(
          ': comment\r\nevent: text\r\ndata: "caf\u00e9"\r\n\r\n' +
            'event: text\rdata:  two\rdata: lines\r\r' +
            'event: done\ndata: {"usage":{"output_tokens":2}}\n\n' +
            'event: text\ndata: "cut off"\n',
        );
        // One byte at a time: splits every CRLF and the two bytes of the \u00e9.
        const chunks = Array.from(bytes, (byte) => new Uint8Array([byte]));
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            const chunk = chunks.shift();
            if (chunk) controller.enqueue(chunk);
            else controller.close();
          },
        });
        const read = (window as unknown as { sse: (r: Response) => AsyncIterable<{ event: string; data: string }> })
          .sse;
        const out: Array<{ event: string; data: string }> = [];
        for await (const event of read(new Response(body))) out.push(event);
        return out;
      });
      expect(events).toEqual([
        { event: 'text', data: '"caf\u00e9"' },
        { event: 'text', data: ' two\nlines' },
        { event: 'done', data: '{"usage":{"output_tokens":2}}' },
      ]);
    },
    TEST_MS,
  );
});

import { describe, expect, it } from 'vitest';
import { readBodyText } from './read-body.js';

const encoder = new TextEncoder();

/** A request whose body is `chunks`, then (unless `end` is false) the end; records whether it was cancelled. */
function streamed(chunks: readonly Uint8Array[], end = true) {
  const state = { cancelled: false };
  let index = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[index++];
      if (chunk) controller.enqueue(chunk);
      else if (end) controller.close();
      // else: the body never ends (a stalled client)
    },
    cancel() {
      state.cancelled = true;
    },
  });
  const request = new Request('http://localhost/', { method: 'POST', body, duplex: 'half' } as RequestInit);
  return { request, state };
}

describe('readBodyText', () => {
  it('reads the whole body as text', async () => {
    const { request } = streamed([encoder.encode('{"a":'), encoder.encode('1}')]);
    expect(await readBodyText(request, 100)).toEqual({ kind: 'ok', text: '{"a":1}' });
  });

  it('decodes a character split across chunks', async () => {
    const bytes = encoder.encode('"🎉"');
    const { request } = streamed([bytes.subarray(0, 3), bytes.subarray(3)]);
    expect(await readBodyText(request, 100)).toEqual({ kind: 'ok', text: '"🎉"' });
  });

  it.each([
    ['Latin-1', [0x22, 0xe9, 0x22]],
    ['a truncated sequence at the end', [0x22, 0xe2, 0x82]],
    ['an overlong encoding', [0xc0, 0xaf]],
  ])('refuses bytes that are not UTF-8 (%s) instead of replacing them', async (_what, bytes) => {
    const { request } = streamed([new Uint8Array(bytes)]);
    expect(await readBodyText(request, 100)).toEqual({ kind: 'not-utf8' });
  });

  it('stops at the limit and cancels the body', async () => {
    const { request, state } = streamed([new Uint8Array(60), new Uint8Array(60), new Uint8Array(60)]);
    expect(await readBodyText(request, 100)).toEqual({ kind: 'too-large' });
    expect(state.cancelled).toBe(true);
  });

  it('refuses a declared content-length over the limit without reading', async () => {
    const request = new Request('http://localhost/', {
      method: 'POST',
      body: 'x'.repeat(200),
      headers: { 'content-length': '200' },
    });
    expect(await readBodyText(request, 100)).toEqual({ kind: 'too-large' });
  });

  it('gives up on a body that never ends when the signal aborts, cancels it, and removes its listener', async () => {
    const { request, state } = streamed([encoder.encode('{"a":')], false);
    const controller = new AbortController();
    let listeners = 0;
    const signal = controller.signal;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners += 1;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners -= 1;
      remove(...args);
    }) as typeof remove;
    const reading = readBodyText(request, 100, signal);
    await new Promise((resolve) => setImmediate(resolve));
    expect(listeners).toBe(1);
    controller.abort(new Error('deadline'));
    expect(await reading).toEqual({ kind: 'aborted' });
    expect(state.cancelled).toBe(true);
    expect(listeners).toBe(0);
  });

  it('does not start reading when the signal has already aborted', async () => {
    const { request, state } = streamed([encoder.encode('{}')]);
    expect(await readBodyText(request, 100, AbortSignal.abort())).toEqual({ kind: 'aborted' });
    expect(state.cancelled).toBe(true);
  });

  it('reports a body stream that fails (the client left mid-body) as broken, without throwing', async () => {
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      },
    });
    const request = new Request('http://localhost/', { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(await readBodyText(request, 100, new AbortController().signal)).toEqual({ kind: 'broken' });
  });

  it('reads an empty body as empty text', async () => {
    expect(await readBodyText(new Request('http://localhost/', { method: 'POST' }), 100)).toEqual({
      kind: 'ok',
      text: '',
    });
  });
});

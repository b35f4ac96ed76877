/**
 * How reading a request body ended: its text, or why there is none. `aborted`: the signal fired
 * first (the deadline ran out, or the client left); `broken`: the body stream failed (the client's
 * connection went away mid-body).
 *
 * @example
 * ```ts
 * const read: BodyRead = await readBodyText(request, 1_048_576, deadline.signal);
 * if (read.kind === 'ok') JSON.parse(read.text);
 * ```
 */
export type BodyRead =
  | { kind: 'ok'; text: string }
  | { kind: 'too-large' }
  | { kind: 'not-utf8' }
  | { kind: 'aborted' }
  | { kind: 'broken' };

const ABORTED = Symbol('aborted');
const noop = (): void => {};

/**
 * Reads a body up to `limit` bytes, as strict UTF-8, until `signal` aborts. Stops reading past the
 * limit or at the abort and cancels the body, so a huge or endless body costs no more than the
 * limit and the time budget. Bytes that are not UTF-8 are refused rather than turned into U+FFFD.
 *
 * @param request - the incoming request
 * @param limit - the largest body accepted, in bytes
 * @param signal - stops the read (the request's deadline signal)
 * @returns the text, or why there is none
 * @example
 * ```ts
 * const read = await readBodyText(request, 1_048_576, call.deadline.signal);
 * ```
 */
export async function readBodyText(request: Request, limit: number, signal?: AbortSignal): Promise<BodyRead> {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await request.body?.cancel().catch(noop);
    return { kind: 'too-large' };
  }
  if (signal?.aborted) {
    await request.body?.cancel().catch(noop);
    return { kind: 'aborted' };
  }
  if (!request.body) return { kind: 'ok', text: '' };
  const reader = request.body.getReader();
  // One settle-once promise per read, its listener removed at the end: nothing outlives the call.
  let onAbort = noop;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array> | typeof ABORTED;
      try {
        next = await Promise.race([reader.read(), aborted]);
      } catch {
        return { kind: 'broken' };
      }
      if (next === ABORTED) {
        // Cancel without waiting: a stalled source may never settle its pending read.
        reader.cancel().catch(noop);
        return { kind: 'aborted' };
      }
      if (next.done) break;
      size += next.value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(noop);
        return { kind: 'too-large' };
      }
      chunks.push(next.value);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return { kind: 'ok', text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { kind: 'not-utf8' };
  }
}

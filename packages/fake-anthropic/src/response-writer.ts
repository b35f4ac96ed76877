import type { ServerResponse } from 'node:http';
import { sleep, waitForAbort } from './sleep.js';

/**
 * Writes a response body while honouring back-pressure, an optional trickle, and cancellation.
 *
 * @example
 * ```ts
 * const writer = createResponseWriter(res, signal);
 * if (!(await writer.write('event: ping\ndata: {"type": "ping"}\n\n'))) return; // the client left
 * ```
 */
export type ResponseWriter = {
  /** Writes `chunk`; resolves false if the request was cancelled before or during the write. */
  write(chunk: string): Promise<boolean>;
  /** Waits until everything written has left the process, then closes the connection without ending the body. */
  cut(): Promise<void>;
};

/**
 * Trickle settings: the size of each piece and the pause between pieces.
 *
 * @example
 * ```ts
 * const trickle: Trickle = { chunkBytes: 4, delayMs: 5 };
 * ```
 */
export type Trickle = { readonly chunkBytes: number; readonly delayMs: number };

/**
 * Creates a {@link ResponseWriter} for `res`.
 *
 * @param res - the response to write to
 * @param signal - aborted when the client goes away or the server closes
 * @param trickle - when set, every chunk is split and paced
 * @returns the writer
 * @example
 * ```ts
 * const writer = createResponseWriter(res, signal, { chunkBytes: 4, delayMs: 5 });
 * ```
 */
export function createResponseWriter(res: ServerResponse, signal: AbortSignal, trickle?: Trickle): ResponseWriter {
  let written = false;
  // Settles when the last chunk has been handed to the kernel; cut() waits for it.
  let flushed: Promise<void> = Promise.resolve();

  const writeOne = (piece: string | Buffer): Promise<boolean> => {
    if (signal.aborted || res.destroyed) return Promise.resolve(false);
    let accepted = true;
    flushed = new Promise<void>((resolve) => {
      accepted = res.write(piece, () => resolve());
    });
    if (accepted) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onDrain = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      };
      const onAbort = (): void => {
        res.off('drain', onDrain);
        resolve(false);
      };
      res.once('drain', onDrain);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  };

  return {
    async write(chunk) {
      if (trickle === undefined) return writeOne(chunk);
      const bytes = Buffer.from(chunk, 'utf8');
      for (let start = 0; start < bytes.length; start += trickle.chunkBytes) {
        // The pause goes between pieces, never before the first byte of the body.
        if (written && !(await sleep(trickle.delayMs, signal))) return false;
        written = true;
        if (!(await writeOne(bytes.subarray(start, start + trickle.chunkBytes)))) return false;
      }
      return true;
    },
    async cut() {
      // Wait for the last chunk to reach the kernel: a destroy would drop anything still queued, and the
      // client must see exactly the events counted in the log before the connection drops.
      await Promise.race([flushed, waitForAbort(signal)]);
      const socket = res.socket;
      if (socket === null || socket.destroyed) return;
      socket.destroy();
    },
  };
}

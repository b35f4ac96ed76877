/**
 * The lines every start script prints once the example answers: its URL (which tests and people
 * read), where Claude calls go, and the demo page.
 *
 * @example
 * ```ts
 * announce('Bun', 'http://127.0.0.1:3000', upstream.description);
 * ```
 */
export function announce(runtime: string, url: string, upstream: string): void {
  console.log(`claude-guard demo (Hono on ${runtime}) listening on ${url}`);
  console.log(`Claude calls go to ${upstream}`);
  console.log(`Open ${url}/ in a browser to chat and watch the breakers.`);
}

import type { Registry } from 'prom-client';

/**
 * Anything that holds a prom-client registry: {@link PrometheusMetrics}, or `{ registry }` of your own.
 *
 * @example
 * ```ts
 * const source: MetricsSource = { registry: promClient.register };
 * ```
 */
export interface MetricsSource {
  readonly registry: Registry;
}

/** What a scrape gets: status, headers and body, before any framework writes it. */
interface Scrape {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const ALLOW = 'GET, HEAD';

async function scrape(source: MetricsSource, method: string): Promise<Scrape> {
  if (method !== 'GET' && method !== 'HEAD') {
    return {
      status: 405,
      headers: { allow: ALLOW, 'content-type': 'text/plain; charset=utf-8' },
      body: 'Method Not Allowed\n',
    };
  }
  const body = await source.registry.metrics();
  return {
    status: 200,
    headers: { 'content-type': source.registry.contentType, 'cache-control': 'no-store' },
    body: method === 'HEAD' ? '' : body,
  };
}

/**
 * `GET /metrics` as a Web handler: the registry's Prometheus text (`HEAD` too; anything else 405).
 * Serve it where only your scraper reaches (an internal port, or behind your own auth): it names
 * your routes, models and breaker keys, though never a request, a prompt or a key.
 *
 * @param source - the metrics (or any `{ registry }`)
 * @returns `(request) => Promise<Response>`
 * @example
 * ```ts
 * const handler = metricsHandler(metrics);
 * export default { fetch: (request: Request) => new URL(request.url).pathname === '/metrics' ? handler(request) : app.fetch(request) };
 * ```
 */
export function metricsHandler(source: MetricsSource): (request: Request) => Promise<Response> {
  return async (request) => {
    const { status, headers, body } = await scrape(source, request.method);
    return new Response(request.method === 'HEAD' ? null : body, { status, headers });
  };
}

/**
 * `GET /metrics` for Hono: `app.get('/metrics', honoMetricsHandler(metrics))`.
 *
 * @param source - the metrics (or any `{ registry }`)
 * @returns a Hono handler
 * @example
 * ```ts
 * app.get('/metrics', honoMetricsHandler(metrics));
 * ```
 */
export function honoMetricsHandler(source: MetricsSource): (c: { req: { raw: Request } }) => Promise<Response> {
  const handle = metricsHandler(source);
  return (c) => handle(c.req.raw);
}

/** The part of Node's (and Express') response a scrape writes. */
export interface NodeResponseLike {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

/**
 * `GET /metrics` for Express (4 and 5) or a plain `node:http` server; a failed scrape goes to `next`.
 *
 * @param source - the metrics (or any `{ registry }`)
 * @returns an Express handler
 * @example
 * ```ts
 * app.get('/metrics', expressMetricsHandler(metrics));
 * ```
 */
export function expressMetricsHandler(
  source: MetricsSource,
): (req: { method?: string | undefined }, res: NodeResponseLike, next?: (error?: unknown) => void) => void {
  return (req, res, next) => {
    scrape(source, req.method ?? 'GET').then(
      ({ status, headers, body }) => {
        res.statusCode = status;
        for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
        res.end(body);
      },
      (error: unknown) => {
        if (next) next(error);
        else {
          res.statusCode = 500;
          res.end();
        }
      },
    );
  };
}

import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { expressMetricsHandler, honoMetricsHandler, metricsHandler, type NodeResponseLike } from './metrics-handler.js';

function source() {
  const registry = new Registry();
  new Counter({ name: 'demo_total', help: 'A demo counter', registers: [registry] }).inc(3);
  return { registry };
}

function nodeResponse() {
  const headers: Record<string, string> = {};
  let resolve: (body: string | undefined) => void = () => {};
  const ended = new Promise<string | undefined>((settle) => (resolve = settle));
  const res: NodeResponseLike & { headers: Record<string, string> } = {
    statusCode: 200,
    headers,
    setHeader: (name, value) => (headers[name] = value),
    end: (body?: string) => resolve(body),
  };
  return { res, ended };
}

describe('metricsHandler', () => {
  it('answers GET with the Prometheus text and HEAD with its headers only', async () => {
    const handler = metricsHandler(source());
    const got = await handler(new Request('http://app.test/metrics'));
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(got.headers.get('cache-control')).toBe('no-store');
    expect(await got.text()).toContain('demo_total 3');
    const head = await handler(new Request('http://app.test/metrics', { method: 'HEAD' }));
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('refuses other methods with 405 and Allow', async () => {
    const got = await metricsHandler(source())(new Request('http://app.test/metrics', { method: 'POST', body: 'x' }));
    expect(got.status).toBe(405);
    expect(got.headers.get('allow')).toBe('GET, HEAD');
  });

  it('serves Hono through the raw request', async () => {
    const got = await honoMetricsHandler(source())({ req: { raw: new Request('http://app.test/metrics') } });
    expect(await got.text()).toContain('demo_total 3');
  });

  it('writes Express and node:http responses, and passes a failed scrape to next', async () => {
    const { res, ended } = nodeResponse();
    expressMetricsHandler(source())({ method: 'GET' }, res);
    expect(await ended).toContain('demo_total 3');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);

    const broken = { registry: { metrics: () => Promise.reject(new Error('collect failed')) } as unknown as Registry };
    const failure = await new Promise<unknown>((resolve) =>
      expressMetricsHandler(broken)({ method: 'GET' }, nodeResponse().res, resolve),
    );
    expect((failure as Error).message).toBe('collect failed');
    const alone = nodeResponse();
    expressMetricsHandler(broken)({ method: 'GET' }, alone.res);
    await alone.ended;
    expect(alone.res.statusCode).toBe(500);
  });
});

import { Registry } from 'prom-client';
import type { AdminRoute } from '../admin/server.js';

/**
 * `/metrics` in the Prometheus text format. The registries hold disjoint metric names
 * (process, process-wide events, this daemon's status), so their texts concatenate into
 * one valid exposition.
 */
export function metricsRoute(registries: readonly { metrics(): string | Promise<string> }[], beforeScrape: () => void = () => undefined): AdminRoute {
  return async (req, res) => {
    beforeScrape();
    const texts = await Promise.all(registries.map(async (r) => r.metrics()));
    const body = texts.map((t) => (t.endsWith('\n') || t === '' ? t : `${t}\n`)).join('');
    res.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

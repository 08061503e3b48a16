import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, request, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { DownloadGrants } from '../../src/cache/download-grants.js';
import { createLogger } from '../../src/log.js';
import { LogCapture } from '../helpers/logs.js';
import { tempDir } from '../helpers/relay-config.js';

/**
 * Per-phone download URLs: one image, one phone address, until expiry or revocation; every
 * refusal has its own status and catalogued code. A plain HTTP server on loopback stands in
 * for the phone port (the route sees the client address the server saw).
 */
describe('download grants', () => {
  const dir = tempDir('cr-grants-');
  const file = join(dir, 'obj');
  const bytes = Buffer.from('#SIM-FIRMWARE version=V3R5.16.0\nrest of the image');
  writeFileSync(file, bytes);
  let now = 1_000_000;
  let cached = true;
  const logs = new LogCapture();
  const grants = new DownloadGrants({
    cache: { complete: () => (cached ? { path: file, size: bytes.length, createdAt: 0 } : undefined), noteHit: () => undefined } as never,
    images: { byPath: (p: string) => (p === '/fw/image.img' ? { sha256: 'ab'.repeat(32) } : undefined) } as never,
    log: createLogger('info', logs),
    now: () => now,
  });
  const route = grants.route();
  let server: Server;
  let port = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      if (!route.matches(req.method ?? 'GET', path)) return res.writeHead(599).end();
      void route.handle(req, res, { clientIp: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''), path, search: '' });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  const get = (path: string, from: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, localAddress: from }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('latin1') }));
      });
      req.on('error', reject);
      req.end();
    });
  const codes = () => logs.lines().map((l) => l.code);

  it('serves the cached image to the phone it was granted to, and notes that it was fetched', async () => {
    const g = grants.grant('127.20.240.7', '/fw/image.img', 60_000);
    expect(g.path).toMatch(/^\/relay\/dl\/[A-Za-z0-9_-]{24}\/image\.img$/);
    expect(g.fetched()).toBe(false);
    const r = await get(g.path, '127.20.240.7');
    expect(r).toEqual({ status: 200, body: bytes.toString('latin1') });
    expect(g.fetched()).toBe(true);
  });

  it('refuses another phone address (403), an expired grant (410), a revoked or unknown one (404)', async () => {
    const g = grants.grant('127.20.240.7', '/fw/image.img', 60_000);
    expect((await get(g.path, '127.20.240.8')).status).toBe(403);
    expect(g.fetched()).toBe(false);
    now += 60_000;
    expect((await get(g.path, '127.20.240.7')).status).toBe(410);
    expect((await get(g.path, '127.20.240.7')).status).toBe(404);
    const h = grants.grant('127.20.240.7', '/fw/image.img', 60_000);
    h.revoke();
    expect((await get(h.path, '127.20.240.7')).status).toBe(404);
    expect((await get('/relay/dl/not-a-token/x', '127.20.240.7')).status).toBe(404);
    expect(codes()).toEqual(expect.arrayContaining(['DOWNLOAD_GRANT_FOREIGN', 'DOWNLOAD_GRANT_EXPIRED', 'DOWNLOAD_GRANT_UNKNOWN']));
  });

  it('never starts an upstream fetch: an image no longer in the cache is 503', async () => {
    cached = false;
    const g = grants.grant('127.20.240.7', '/fw/image.img', 60_000);
    expect((await get(g.path, '127.20.240.7')).status).toBe(503);
    expect(codes()).toContain('DOWNLOAD_GRANT_NOT_CACHED');
    cached = true;
  });
});

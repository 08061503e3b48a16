import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DmsImages } from '../../sim/dms/images.js';
import { FirmwareCache } from '../../src/cache/firmware-cache.js';
import { AccessChecker } from '../../src/cache/access.js';
import { PathMatcher } from '../../src/cache/patterns.js';
import { firmwareRoute } from '../../src/cache/phone-route.js';
import { CacheRepo } from '../../src/store/cache.js';
import { ImagesRepo } from '../../src/store/images.js';
import { openDb, type Db } from '../../src/store/db.js';
import { createLogger } from '../../src/log.js';
import type { Registration, RegistrationSource } from '../../src/core/ports.js';
import { basic, startProvisioningOrigin, startRouteOrigin, testPki, type Origin, type ProvisioningOrigin } from '../helpers/firmware-origins.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';

const MB = 1024 * 1024;
const pki = testPki();
const log = createLogger('silent');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Rig {
  dir: string;
  db: Db;
  cache: FirmwareCache;
  images: ImagesRepo;
  phoneUrl: string;
  close(): Promise<void>;
}

let dms: DmsImages;
let dmsOrigin: Origin;
let prov: ProvisioningOrigin;
const patternFile = DmsImages.contentBytes('pattern-file', 3 * MB + 17);
/** What the provisioning server serves: the DMS hosts the desired images there too. */
const provFiles = new Map([['/firmware/vvx/sip.ld', patternFile]]);
const client = new Agent({ connect: { ca: pki.ca.certPem }, connections: 200 });
const rigs: Rig[] = [];

beforeAll(async () => {
  dms = new DmsImages({ images: [] });
  dmsOrigin = await startRouteOrigin(pki, dms.routes);
  prov = await startProvisioningOrigin(pki, { phone1: 'secret1', phone2: 'secret2' }, provFiles);
});

afterAll(async () => {
  await dmsOrigin.close();
  await prov.close();
  await client.close();
});

afterEach(async () => {
  for (const r of rigs.splice(0)) await r.close();
});

async function rig(opts: { quotaBytes?: number; cacheDir?: string; attempts?: number } = {}): Promise<Rig> {
  const dir = tempDir('cr-cache-');
  const db = openDb(join(dir, 'data'));
  const reg: Registration = {
    relayId: 'relay-1',
    token: 'tok-1',
    tokenExpiresAt: new Date(Date.now() + 3600_000).toISOString(),
    heartbeatIntervalSeconds: 120,
    controlUrl: 'wss://127.0.0.1:1/',
    provisioningUrl: `${prov.url}/provisioning/`,
    site: { id: 's', name: 's', subnets: [], siteSpecific: false },
  };
  const registration: RegistrationSource = { current: () => reg, onChange: () => undefined };
  const upstream = new Agent({ connect: { ca: pki.ca.certPem } });
  const cacheRepo = new CacheRepo(db);
  const images = new ImagesRepo(db);
  const cache = new FirmwareCache({
    dir: opts.cacheDir ?? join(dir, 'cache'),
    quotaBytes: opts.quotaBytes ?? 1024 * MB,
    cacheRepo,
    imagesRepo: images,
    dispatcher: upstream,
    log,
    clock: { now: () => Date.now() },
    retry: { attempts: opts.attempts ?? 4, baseDelayMs: 20, maxDelayMs: 100 },
  });
  await cache.init();
  const route = firmwareRoute({
    cache,
    images,
    cacheRepo,
    matcher: new PathMatcher(['**/*.ld', '/swupdate/**', '/firmware/**']),
    access: new AccessChecker({ dispatcher: upstream, ttlMs: 60_000, clock: { now: () => Date.now() }, log }),
    registration,
    imageSource: (url) => ({ url, headers: { authorization: 'Bearer tok-1' } }),
    log,
  });
  // Stand-in for the phone-facing server: only the route under test.
  const server: Server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (!route.matches(req.method ?? 'GET', path)) {
      res.writeHead(404).end();
      return;
    }
    route.handle(req, res, { clientIp: '127.20.0.5', path, search: '' }).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const r: Rig = {
    dir,
    db,
    cache,
    images,
    phoneUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await cache.stop();
      await upstream.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  rigs.push(r);
  return r;
}

/** Puts simulator images into the desired set (what the download agent does). */
function desire(r: Rig, ids: string[]): void {
  const specs = ids.map((id) => ({
    imageId: id,
    vendor: 'polycom',
    models: [],
    version: '1',
    path: `/swupdate/${id}/sip.ld`,
    size: dms.bytes(id).length,
    sha256: dms.sha256(id),
    url: `${dmsOrigin.url}/api/v1/image-files/${id}`,
  }));
  r.images.replaceSet(specs, null, Date.now());
  for (const sp of specs) provFiles.set(sp.path, dms.bytes(sp.imageId));
}

async function get(url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') {
  const res = await request(url, { dispatcher: client, method, headers: { authorization: basic('phone1', 'secret1'), ...headers } });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body };
}

describe('firmware cache serving', () => {
  it('50 concurrent requests for an uncached image: one upstream fetch, 50 identical verified bodies, bytes streamed before the fill ends', async () => {
    dms.setImages([{ imageId: 'sf', size: 2 * MB + 123 }]);
    dms.setBandwidth(8 * MB); // ~250 ms fill: followers must get bytes while it runs
    const r = await rig();
    desire(r, ['sf']);
    const before = dms.fileRequests('sf');
    const firstByteBeforeDone: boolean[] = [];
    const results = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await request(`${r.phoneUrl}/swupdate/sf/sip.ld`, { dispatcher: client, headers: { authorization: basic('phone1', 'secret1') } });
        const chunks: Buffer[] = [];
        let first = true;
        for await (const c of res.body) {
          if (first) {
            firstByteBeforeDone.push(r.cache.complete(dms.sha256('sf')) === undefined);
            first = false;
          }
          chunks.push(c as Buffer);
        }
        return { status: res.statusCode, etag: res.headers.etag, body: Buffer.concat(chunks) };
      }),
    );
    dms.setBandwidth(undefined);
    expect(dms.fileRequests('sf') - before).toBe(1);
    const want = dms.sha256('sf');
    for (const res of results) {
      expect(res.status).toBe(200);
      expect(res.etag).toBe(`"${want}"`);
      expect(sha(res.body)).toBe(want);
    }
    expect(firstByteBeforeDone.some(Boolean)).toBe(true);
    expect(r.cache.complete(want)?.size).toBe(2 * MB + 123);
    // Warm now: another request is a hit with no upstream fetch. (Counted from here: on a loaded
    // machine some of the 50 may have arrived after the fill ended, and were hits already.)
    const hitsBefore = r.cache.stats().hits;
    const again = await get(`${r.phoneUrl}/swupdate/sf/sip.ld`);
    expect(sha(again.body)).toBe(want);
    expect(dms.fileRequests('sf') - before).toBe(1);
    expect(r.cache.stats().hits).toBe(hitsBefore + 1);
  });

  it('Range, If-Range, HEAD, 416 and conditional GET on a warm object', async () => {
    dms.setImages([{ imageId: 'rg', size: 1 * MB + 7 }]);
    const r = await rig();
    desire(r, ['rg']);
    const full = dms.bytes('rg');
    const etag = `"${dms.sha256('rg')}"`;
    // HEAD before anything is cached answers from the catalogue and starts no download.
    const before = dms.fileRequests('rg');
    const coldHead = await get(`${r.phoneUrl}/swupdate/rg/sip.ld`, {}, 'HEAD');
    expect(coldHead.status).toBe(200);
    expect(coldHead.headers['content-length']).toBe(String(full.length));
    expect(coldHead.headers.etag).toBe(etag);
    expect(dms.fileRequests('rg')).toBe(before);
    await get(`${r.phoneUrl}/swupdate/rg/sip.ld`);
    const url = `${r.phoneUrl}/swupdate/rg/sip.ld`;

    const head = await get(url, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(full.length));
    expect(head.headers.etag).toBe(etag);
    expect(head.headers['accept-ranges']).toBe('bytes');
    expect(head.body.length).toBe(0);
    const lastModified = head.headers['last-modified'] as string;
    expect(Date.parse(lastModified)).not.toBeNaN();

    const part = await get(url, { range: 'bytes=100-1099' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 100-1099/${full.length}`);
    expect(part.body.equals(full.subarray(100, 1100))).toBe(true);

    const suffix = await get(url, { range: 'bytes=-10' });
    expect(suffix.status).toBe(206);
    expect(suffix.body.equals(full.subarray(full.length - 10))).toBe(true);

    const open = await get(url, { range: `bytes=${full.length - 5}-` });
    expect(open.body.equals(full.subarray(full.length - 5))).toBe(true);

    const bad = await get(url, { range: `bytes=${full.length}-` });
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${full.length}`);
    expect(bad.body.length).toBe(0);

    const ifRangeOk = await get(url, { range: 'bytes=0-9', 'if-range': etag });
    expect(ifRangeOk.status).toBe(206);
    const ifRangeStale = await get(url, { range: 'bytes=0-9', 'if-range': '"0000"' });
    expect(ifRangeStale.status).toBe(200);
    expect(ifRangeStale.body.equals(full)).toBe(true);

    const inm = await get(url, { 'if-none-match': etag });
    expect(inm.status).toBe(304);
    expect(inm.body.length).toBe(0);
    const ims = await get(url, { 'if-modified-since': lastModified });
    expect(ims.status).toBe(304);
  });

  it('a client without valid credentials gets nothing, cached or not', async () => {
    dms.setImages([{ imageId: 'au', size: 512 * 1024 }]);
    const r = await rig();
    desire(r, ['au']);
    const url = `${r.phoneUrl}/swupdate/au/sip.ld`;
    const before = dms.fileRequests('au');
    const none = await request(url, { dispatcher: client });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toContain('Basic');
    const noneBody = Buffer.from(await none.body.arrayBuffer());
    const wrong = await get(url, { authorization: basic('phone1', 'nope') });
    expect(wrong.status).toBe(401);
    expect(dms.fileRequests('au')).toBe(before); // refusal started no fill
    await get(url); // warm it with good credentials
    const warmWrong = await get(url, { authorization: basic('phone2', 'bad') });
    expect(warmWrong.status).toBe(401);
    for (const b of [noneBody, wrong.body, warmWrong.body]) expect(b.includes(dms.bytes('au').subarray(0, 64))).toBe(false);
    const ok2 = await get(url, { authorization: basic('phone2', 'secret2') });
    expect(ok2.status).toBe(200);
  });

  it('corrupt upstream bytes are rejected, never served complete, and the partial file is removed', async () => {
    dms.setImages([{ imageId: 'bad', size: 2 * MB }]);
    dms.setFault('bad', { corruptAtByte: MB + 5 });
    const r = await rig();
    desire(r, ['bad']);
    const url = `${r.phoneUrl}/swupdate/bad/sip.ld`;
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, async () => {
        try {
          const res = await request(url, { dispatcher: client, headers: { authorization: basic('phone1', 'secret1') } });
          const body = Buffer.from(await res.body.arrayBuffer());
          return { status: res.statusCode, length: body.length };
        } catch (err) {
          return { error: String(err) };
        }
      }),
    );
    for (const o of outcomes) {
      // Either refused outright or cut short: never a complete 2 MB body.
      if ('length' in o) expect(o.status === 200 ? o.length : 0).toBeLessThan(2 * MB);
    }
    expect(r.cache.complete(dms.sha256('bad'))).toBeUndefined();
    expect(r.cache.stats().lastError?.code).toBe('CACHE_CORRUPT');
    await waitFor(() => readdirSync(join(r.dir, 'cache', 'partial')).length === 0, { timeoutMs: 5000, message: 'partial removed' });
    expect(readdirSync(join(r.dir, 'cache', 'objects'))).toEqual([]);
    dms.setFault('bad', undefined);
    // The next request after the fault is gone fills correctly.
    const good = await get(url);
    expect(good.status).toBe(200);
    expect(sha(good.body)).toBe(dms.sha256('bad'));
  });

  it('a fill cut at 60 % resumes with Range and ends with one correct file', async () => {
    const size = 4 * MB;
    dms.setImages([{ imageId: 'cut', size }]);
    dms.setFault('cut', { cutAtByte: Math.floor(size * 0.6), times: 1 });
    const r = await rig();
    desire(r, ['cut']);
    const before = dms.requests.ranges.length;
    const res = await get(`${r.phoneUrl}/swupdate/cut/sip.ld`);
    expect(res.status).toBe(200);
    expect(sha(res.body)).toBe(dms.sha256('cut'));
    // The resume starts where the relay's partial file ends: at the cut, or a little before it
    // when the last bytes on the wire had not reached the file yet. Never from 0, never past it.
    const resumedFrom = dms.requests.ranges
      .slice(before)
      .map((r) => /^bytes=(\d+)-$/.exec(r))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]));
    expect(resumedFrom).toHaveLength(1);
    expect(resumedFrom[0]).toBeGreaterThan(size / 2);
    expect(resumedFrom[0]).toBeLessThanOrEqual(Math.floor(size * 0.6));
    expect(readdirSync(join(r.dir, 'cache', 'objects'))).toEqual([dms.sha256('cut')]);
    // A crash between the rename and the index insert leaves a verified file without a row:
    // the next start adopts it instead of downloading it again.
    new CacheRepo(r.db).removeObject(dms.sha256('cut'));
    expect(r.cache.complete(dms.sha256('cut'))).toBeUndefined();
    await r.cache.init();
    expect(r.cache.complete(dms.sha256('cut'))?.size).toBe(size);
  });

  it('firmware paths outside the desired set matching the patterns are fetched once from the provisioning server', async () => {
    const r = await rig();
    const url = `${r.phoneUrl}/firmware/vvx/sip.ld`;
    const before = prov.fills.get('/firmware/vvx/sip.ld') ?? 0;
    const bodies = await Promise.all(Array.from({ length: 10 }, () => get(url)));
    for (const b of bodies) {
      expect(b.status).toBe(200);
      expect(b.body.equals(patternFile)).toBe(true);
    }
    expect((prov.fills.get('/firmware/vvx/sip.ld') ?? 0) - before).toBe(1);
    await waitFor(() => r.cache.complete(sha(patternFile)), { timeoutMs: 5000, message: 'pattern object indexed' });
    const warm = await get(url, { range: 'bytes=0-99' });
    expect(warm.status).toBe(206);
    expect(warm.body.equals(patternFile.subarray(0, 100))).toBe(true);
    expect((prov.fills.get('/firmware/vvx/sip.ld') ?? 0) - before).toBe(1);
    // The file changes upstream (new size): the next fresh credential check notices and refetches it.
    const newer = DmsImages.contentBytes('pattern-file-v2', 2 * MB + 5);
    provFiles.set('/firmware/vvx/sip.ld', newer);
    const fresh = await get(url, { authorization: basic('phone2', 'secret2') });
    expect(fresh.body.equals(newer)).toBe(true);
    expect((prov.fills.get('/firmware/vvx/sip.ld') ?? 0) - before).toBe(2);
    provFiles.set('/firmware/vvx/sip.ld', patternFile);
    const missing = await get(`${r.phoneUrl}/firmware/none.ld`);
    expect(missing.status).toBe(404);
    expect(prov.fills.get('/firmware/none.ld')).toBeUndefined();
    // Phones probe model-specific names (part number first): with credentials checked a moment
    // ago the relay goes straight to a fill, the origin has no such file, the phone gets 404, and
    // the cache records no error for the phones' normal probing.
    const probe = await get(`${r.phoneUrl}/firmware/vvx/3111-48450-001-sip.ld`);
    expect(probe.status).toBe(404);
    expect(prov.hits.get('/firmware/vvx/3111-48450-001-sip.ld')).toBe(1); // the fill's GET, no credential check
    expect(r.cache.stats().lastError).toBeNull();
  });

  it('quota: least recently used unpinned objects are evicted; pinned ones stay', async () => {
    dms.setImages([
      { imageId: 'q1', size: 3 * MB },
      { imageId: 'q2', size: 3 * MB },
      { imageId: 'q3', size: 3 * MB },
    ]);
    const r = await rig({ quotaBytes: 7 * MB });
    desire(r, ['q1', 'q2', 'q3']);
    await get(`${r.phoneUrl}/swupdate/q1/sip.ld`);
    await get(`${r.phoneUrl}/swupdate/q2/sip.ld`);
    // q1 and q2 pinned (in the set): q3 cannot fit.
    const refused = await get(`${r.phoneUrl}/swupdate/q3/sip.ld`);
    expect(refused.status).toBe(507);
    // q1 leaves the set: unpinned, so it is evicted to make room for q3.
    desire(r, ['q2', 'q3']);
    const ok = await get(`${r.phoneUrl}/swupdate/q3/sip.ld`);
    expect(ok.status).toBe(200);
    expect(sha(ok.body)).toBe(dms.sha256('q3'));
    expect(r.cache.complete(dms.sha256('q1'))).toBeUndefined();
    expect(existsSync(join(r.dir, 'cache', 'objects', dms.sha256('q1')))).toBe(false);
    expect(r.cache.complete(dms.sha256('q2'))).toBeDefined();
  });

  // A real full disk: a 3 MB tmpfs (needs root to mount; skipped with a note otherwise).
  const tmpfs = mountTinyTmpfs();
  it.skipIf(tmpfs === undefined)('ENOSPC fails only that fill, removes its partial, reports it, and everything else keeps serving', async () => {
    const dir = tmpfs as string;
    dms.setImages([
      { imageId: 'small', size: 1 * MB },
      { imageId: 'huge', size: 4 * MB },
    ]);
    const r = await rig({ cacheDir: dir, quotaBytes: 1024 * MB });
    desire(r, ['small', 'huge']);
    const small = await get(`${r.phoneUrl}/swupdate/small/sip.ld`);
    expect(sha(small.body)).toBe(dms.sha256('small'));
    let hugeOutcome: string;
    try {
      const res = await get(`${r.phoneUrl}/swupdate/huge/sip.ld`);
      hugeOutcome = `${res.status}:${res.body.length}`;
    } catch (err) {
      hugeOutcome = `error:${String(err)}`;
    }
    expect(hugeOutcome).not.toBe(`200:${4 * MB}`);
    expect(r.cache.stats().lastError?.code).toBe('CACHE_DISK_FULL');
    await waitFor(() => readdirSync(join(dir, 'partial')).length === 0, { timeoutMs: 5000, message: 'partial removed after ENOSPC' });
    expect(r.cache.complete(dms.sha256('huge'))).toBeUndefined();
    // The warm object is still served, whole.
    const again = await get(`${r.phoneUrl}/swupdate/small/sip.ld`);
    expect(again.status).toBe(200);
    expect(sha(again.body)).toBe(dms.sha256('small'));
  });
});

function mountTinyTmpfs(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = tempDir('cr-enospc-');
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  afterAll(() => {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      // best effort
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

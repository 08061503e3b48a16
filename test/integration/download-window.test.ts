import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DmsImages } from '../../sim/dms/images.js';
import { FirmwareCache } from '../../src/cache/firmware-cache.js';
import { DownloadAgent } from '../../src/download-agent/agent.js';
import { CacheRepo } from '../../src/store/cache.js';
import { ImagesRepo } from '../../src/store/images.js';
import { openDb } from '../../src/store/db.js';
import { createLogger } from '../../src/log.js';
import type { OutboundBodies, OutboundType } from '../../src/management-agent/frames.js';
import type { Outbox, Registration } from '../../src/core/ports.js';
import { startRouteOrigin, testPki, type Origin } from '../helpers/firmware-origins.js';
import { tempDir } from '../helpers/relay-config.js';

/** A manual clock the test sets to exact instants. */
class SetClock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
}

const pki = testPki();
let origin: Origin;
const dms = new DmsImages({
  images: [{ imageId: 'win', size: 300 * 1024 }],
  // Mondays 02:00–04:00 UTC, not before Sunday 13 Dec 2026 12:12 UTC.
  syncWindow: { days: ['mon'], start: '02:00', end: '04:00', notBefore: '2026-12-13T12:12' },
});

beforeAll(async () => {
  origin = await startRouteOrigin(pki, dms.routes);
});
afterAll(async () => {
  await origin.close();
});

describe('sync window with an injected clock', () => {
  it('holds downloads until notBefore and the window open, then syncs and reports progress', async () => {
    const dir = tempDir('cr-window-');
    const db = openDb(join(dir, 'data'));
    const dispatcher = new Agent({ connect: { ca: pki.ca.certPem } });
    const log = createLogger('silent');
    const clock = new SetClock(Date.parse('2026-12-07T02:30:00Z')); // a Monday inside 02–04, but before notBefore
    const repo = new ImagesRepo(db);
    const cache = new FirmwareCache({ dir: join(dir, 'cache'), quotaBytes: 1e9, cacheRepo: new CacheRepo(db), imagesRepo: repo, dispatcher, log, clock });
    await cache.init();
    const frames: { type: OutboundType; body: OutboundBodies[OutboundType] }[] = [];
    const outbox: Outbox = {
      enqueue(type, body) {
        frames.push({ type, body });
        return String(frames.length);
      },
      depth: () => 0,
    };
    const reg: Registration = {
      relayId: 'relay-1',
      token: 'tok-1',
      tokenExpiresAt: '2099-01-01T00:00:00Z',
      heartbeatIntervalSeconds: 120,
      controlUrl: 'wss://127.0.0.1:1/',
      provisioningUrl: 'https://127.0.0.1:1/',
      site: { id: 's', name: 's', subnets: [], siteSpecific: false },
    };
    const agent = new DownloadAgent({
      repo,
      cache: {
        has: (s) => cache.complete(s) !== undefined,
        fill: (img) => cache.fillImage({ sha256: img.sha256, size: img.size, source: { url: img.url, headers: { authorization: 'Bearer tok-1' } } }),
      },
      outbox,
      registration: { current: () => reg, onChange: () => undefined },
      dmsUrl: origin.url,
      dispatcher,
      log,
      clock,
      periodicSyncMs: 3_600_000,
    });
    try {
      agent.requestSync('test: before notBefore');
      await agent.idle();
      expect(dms.fileRequests('win')).toBe(0);
      expect(repo.get('win')?.state).toBe('pending');
      expect(agent.view().windowOpen).toBe(false);
      expect(agent.view().nextWindowAt).toBe('2026-12-14T02:00:00.000Z');

      clock.t = Date.parse('2026-12-14T01:59:00Z'); // after notBefore, a minute before the window
      agent.requestSync('test: just before the window');
      await agent.idle();
      expect(dms.fileRequests('win')).toBe(0);
      expect(frames).toEqual([]);

      clock.t = Date.parse('2026-12-14T02:00:00Z'); // what the node-cron tick at the window start triggers
      agent.requestSync('sync window opened');
      await agent.idle();
      expect(dms.fileRequests('win')).toBe(1);
      expect(repo.get('win')?.state).toBe('synced');
      const states = frames.map((f) => f.body as { state: string; bytes: number });
      expect(frames.every((f) => f.type === 'image.status')).toBe(true);
      expect(states[0]?.state).toBe('syncing');
      expect(states.at(-1)).toMatchObject({ state: 'synced', bytes: 300 * 1024 });
      const progress = states.filter((b) => b.state === 'syncing').map((b) => b.bytes);
      expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    } finally {
      await agent.stop();
      await cache.stop();
      await dispatcher.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

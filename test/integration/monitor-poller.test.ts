import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { openDb, type Db } from '../../src/store/db.js';
import { DeviceRepo } from '../../src/store/devices.js';
import { PolycomDriver } from '../../src/devices/polycom/driver.js';
import { PhoneLock } from '../../src/devices/phone-lock.js';
import { DevicePoller } from '../../src/device-work/monitor/poller.js';
import { StatusBook } from '../../src/device-work/monitor/status-book.js';
import { createLogger } from '../../src/log.js';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { memoryOutbox } from '../helpers/devices.js';

/** The background poll: spread over the interval, device.status only when something changed. */
describe('device poller', () => {
  let farm: PhoneFarm;
  let db: Db;
  let dir: string;
  const { outbox, sent } = memoryOutbox();

  beforeAll(async () => {
    dir = tempDir('cr-poll-');
    db = openDb(join(dir, 'data'));
    farm = await PhoneFarm.start({ count: 5, firstIndex: 5000 + (process.pid % 50) * 100 });
  });

  afterAll(async () => {
    await farm?.close();
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('polls each known device once per interval, one at a time, and reports only changes', async () => {
    const devices = new DeviceRepo(db);
    farm.targets().forEach((t) => devices.upsert({ deviceId: t.deviceId, mac: t.mac, ip: t.ip, target: JSON.stringify(t) }, Date.now()));
    const driver = new PolycomDriver({ tlsPolicy: 'insecure', requestTimeoutMs: 2_000, pins: { check: () => ({ ok: true }) } });
    const clock = { now: () => Date.now() };
    const poller = new DevicePoller({
      devices,
      book: new StatusBook(devices, outbox, clock),
      driverFor: () => driver,
      queue: new PQueue({ concurrency: 64 }),
      lock: new PhoneLock(),
      clock,
      log: createLogger('silent'),
      // 5 phones spread over 2 s: 400 ms apart, so a loaded machine's stalls do not bunch them up.
      intervalMs: 2_000,
    });
    const statusOf = (i: number) => sent.filter((s) => s.type === 'device.status' && s.body.deviceId === farm.target(i).deviceId);
    poller.start();
    try {
      // Spread, not a burst: the first status arrives while most phones have not been asked yet.
      await waitFor(() => sent.length >= 1, { message: 'first status' });
      const askedAtFirst = farm.phones.filter((p) => (p.phone.hits.get('/api/v2/mgmt/device/info') ?? 0) > 0).length;
      expect(askedAtFirst).toBeLessThan(5);
      await waitFor(() => farm.phones.every((p) => (p.phone.hits.get('/api/v2/mgmt/device/info') ?? 0) >= 2), { message: 'two full cycles', timeoutMs: 20_000 });
      for (let i = 0; i < 5; i++) expect(statusOf(i)).toHaveLength(1);
      expect(statusOf(0)[0]?.body).toMatchObject({ online: true, callState: 'idle', firmware: '6.4.3.1234', lines: [{ line: 1, registered: true }] });
      // A change is reported on the next poll; no change, no frame.
      farm.phone(3).lines[0]!.registered = false;
      await waitFor(() => statusOf(3).length === 2, { message: 'status after the change', timeoutMs: 10_000 });
      expect(statusOf(3)[1]?.body.lines).toEqual([{ line: 1, uri: farm.phone(3).lines[0]!.uri, registered: false }]);
      expect(devices.counts()).toEqual({ known: 5, online: 5 });
    } finally {
      poller.stop();
      await driver.close();
    }
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { DeviceRepo } from '../../src/store/devices.js';
import { tempDir } from '../helpers/relay-config.js';

/** The phones part of the status document: counted in SQL, bounded whatever the fleet size. */
describe('device store summary', () => {
  let dir: string | undefined;
  let db: Db | undefined;
  afterEach(() => {
    db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function repo(): DeviceRepo {
    dir = tempDir('cr-devsum-');
    db = openDb(join(dir, 'data'));
    return new DeviceRepo(db);
  }

  const add = (r: DeviceRepo, i: number, model: string, at = 1000) => {
    const mac = `0004f2${i.toString(16).padStart(6, '0')}`;
    r.upsert(
      { deviceId: `dev-${i}`, mac, ip: `127.20.0.${i}`, target: JSON.stringify({ deviceId: `dev-${i}`, mac, model, credentials: { user: 'u', password: 'secret-pw' } }) },
      at,
    );
  };
  const status = (firmware: string, online: boolean) => JSON.stringify(online ? { online, firmware } : { online, firmware });

  it('counts known/online per model and firmware, biggest first, and sums what it leaves out', () => {
    const r = repo();
    const fleet: [string, string, number, number][] = [
      ['VVX 450', '6.4.3', 5, 4],
      ['VVX 250', '6.4.3', 3, 3],
      ['VVX 250', '5.9.7', 2, 0],
      ['CCX 400', '8.1.0', 1, 1],
    ];
    let i = 1;
    for (const [model, fw, known, online] of fleet) {
      for (let k = 0; k < known; k++, i++) {
        add(r, i, model);
        r.setStatus(`dev-${i}`, status(fw, k < online), k < online, 2000);
      }
    }
    add(r, 99, 'VVX 450'); // named by a task, never polled: no firmware, not online
    const s = r.summary(2, 10);
    expect(s.known).toBe(12);
    expect(s.online).toBe(8);
    expect(s.groups).toEqual([
      { model: 'VVX 450', firmware: '6.4.3', known: 5, online: 4 },
      { model: 'VVX 250', firmware: '6.4.3', known: 3, online: 3 },
    ]);
    expect(s.otherGroups).toEqual({ groups: 3, known: 4, online: 1 });
  });

  it('keeps the firmware an offline phone last reported, and dates "offline since" from the flip, not from each poll', () => {
    const r = repo();
    for (let i = 1; i <= 12; i++) add(r, i, 'VVX 450');
    for (let i = 1; i <= 12; i++) r.setStatus(`dev-${i}`, status('6.4.3', true), true, 1000);
    // phones go offline one after another; phone 1 is polled again later while still offline
    for (let i = 1; i <= 12; i++) r.setStatus(`dev-${i}`, JSON.stringify({ online: false, firmware: '6.4.3' }), false, 10_000 + i * 1000);
    r.setStatus('dev-1', JSON.stringify({ online: false, firmware: '6.4.3' }), false, 99_000);
    const s = r.summary(10, 10);
    expect(s.groups).toEqual([{ model: 'VVX 450', firmware: '6.4.3', known: 12, online: 0 }]);
    expect(s.recentlyOffline).toHaveLength(10);
    expect(s.recentlyOffline.map((d) => d.deviceId)).toEqual(['dev-12', 'dev-11', 'dev-10', 'dev-9', 'dev-8', 'dev-7', 'dev-6', 'dev-5', 'dev-4', 'dev-3']);
    expect(s.recentlyOffline[0]).toEqual({ deviceId: 'dev-12', mac: '0004f200000c', ip: '127.20.0.12', model: 'VVX 450', offlineSince: new Date(22_000).toISOString() });
    // back online and down again: the new flip counts
    r.setStatus('dev-1', status('6.4.5', true), true, 100_000);
    r.setStatus('dev-1', JSON.stringify({ online: false, firmware: '6.4.5' }), false, 101_000);
    const again = r.summary(10, 1);
    expect(again.recentlyOffline.map((d) => [d.deviceId, d.offlineSince])).toEqual([['dev-1', new Date(101_000).toISOString()]]);
    expect(again.groups).toContainEqual({ model: 'VVX 450', firmware: '6.4.5', known: 1, online: 0 });
  });
});

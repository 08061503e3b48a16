import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { DeviceRepo } from '../../src/store/devices.js';
import { PolycomDriver } from '../../src/devices/polycom/driver.js';
import { DeviceError } from '../../src/devices/errors.js';
import { PhoneFarm, phoneCert } from '../../sim/phone/farm.js';
import { tempDir } from '../helpers/relay-config.js';

/** The driver's TLS policies and transport failures against simulated phones over real HTTPS. */
describe('Polycom driver: TLS policy and transport outcomes', () => {
  let farm: PhoneFarm;
  let db: Db;
  let repo: DeviceRepo;
  let dir: string;
  let tls: { cert: string; key: string };

  beforeAll(async () => {
    dir = tempDir('cr-devtls-');
    db = openDb(join(dir, 'data'));
    repo = new DeviceRepo(db);
    tls = await phoneCert();
    farm = await PhoneFarm.start({ count: 3, firstIndex: 4000 + (process.pid % 50) * 100, tls });
  });

  afterAll(async () => {
    await farm?.close();
    db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const pins = () => ({ check: (o: string, fp: string) => repo.checkPin(o, fp, Date.now()) });

  it('pin-on-first-use pins, then refuses a changed certificate until the pin is cleared', async () => {
    const d = new PolycomDriver({ tlsPolicy: 'pin-on-first-use', requestTimeoutMs: 5_000, pins: pins(), keepAliveMs: 1 });
    try {
      const t = farm.target(0);
      expect((await d.info(t)).mac).toBe(farm.phone(0).mac);
      const origin = `${t.ip}:${t.port}`;
      expect(repo.pins().map((p) => p.origin)).toContain(origin);
      await farm.replaceCert(farm.phone(0));
      const err = await d.info(t).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeviceError);
      expect((err as DeviceError).code).toBe('TLS_PIN_MISMATCH');
      expect((err as DeviceError).reached).toBe(false);
      expect(repo.clearPin(origin)).toBe(true);
      expect((await d.info(t)).mac).toBe(farm.phone(0).mac);
    } finally {
      await d.close();
    }
  });

  it('verify trusts the configured CA file and refuses a phone whose certificate it does not lead to', async () => {
    const caFile = join(dir, 'phones-ca.pem');
    writeFileSync(caFile, tls.cert);
    const d = new PolycomDriver({ tlsPolicy: 'verify', caFile, requestTimeoutMs: 5_000, pins: pins() });
    try {
      expect((await d.info(farm.target(1))).model).toBe('VVX 450');
      await farm.replaceCert(farm.phone(2));
      const err = (await d.info(farm.target(2)).catch((e: unknown) => e)) as DeviceError;
      expect(err.code).toBe('TLS_UNTRUSTED');
    } finally {
      await d.close();
    }
  });

  it('connect refused is "never reached"; a dropped connection and a slow phone "may have reached"', async () => {
    // Every call below answers (or drops) at once except the slow one: the timeout only has to
    // be clearly shorter than its delay, and long enough that a loaded machine's stall is no timeout.
    const d = new PolycomDriver({ tlsPolicy: 'insecure', requestTimeoutMs: 1_500, pins: pins() });
    try {
      const refused = (await d.info({ ...farm.target(1), ip: '127.20.255.250' }).catch((e: unknown) => e)) as DeviceError;
      expect([refused.code, refused.reached]).toEqual(['CONNECT_FAILED', false]);
      farm.phone(1).faults.drop = true;
      const dropped = (await d.info(farm.target(1)).catch((e: unknown) => e)) as DeviceError;
      expect([dropped.code, dropped.reached]).toEqual(['CONNECTION_LOST', true]);
      farm.phone(1).faults = { delayMs: 4_000 };
      const slow = (await d.info(farm.target(1)).catch((e: unknown) => e)) as DeviceError;
      expect([slow.code, slow.reached]).toEqual(['TIMEOUT', true]);
      farm.phone(1).faults = { httpStatus: 503, retryAfterSeconds: 7 };
      const busy = (await d.reboot(farm.target(1)).catch((e: unknown) => e)) as DeviceError;
      expect([busy.code, busy.retryAfterMs]).toEqual(['BUSY', 7_000]);
      farm.phone(1).faults = { httpStatus: 500 };
      const five = (await d.checkSync(farm.target(1)).catch((e: unknown) => e)) as DeviceError;
      expect([five.code, five.reached]).toEqual(['HTTP_ERROR', true]);
      farm.phone(1).faults = {};
    } finally {
      await d.close();
    }
  });

  it('getParams of more than 20 names is split into calls of at most 20', async () => {
    const d = new PolycomDriver({ tlsPolicy: 'insecure', requestTimeoutMs: 5_000, pins: pins() });
    try {
      const names = Array.from({ length: 25 }, (_, i) => `reg.${i + 1}.displayName`);
      const r = await d.getParams(farm.target(1), names);
      expect(Object.keys(r.values)).toHaveLength(25);
      expect(farm.phone(1).hits.get('/api/v1/mgmt/config/get')).toBe(2);
    } finally {
      await d.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { deviceUpgrader } from '../../src/device-work/rollouts/upgrader.js';
import { PhoneLock } from '../../src/devices/phone-lock.js';
import type { DriverRegistry } from '../../src/devices/registry.js';
import type { SiteInfo } from '../../src/device-work/site.js';
import { createLogger } from '../../src/log.js';

/** The rollout runner's upgrade port: the site rule tasks follow, then the vendor driver. */
describe('rollout device upgrader', () => {
  const target = (ip: string) =>
    JSON.stringify({ deviceId: `d-${ip}`, mac: '0004f2000001', ip, vendor: 'polycom', model: 'VVX 450', credentials: { user: 'Polycom', password: '456' } });
  const image = { imageId: 'img', version: '6.5.0' };

  function upgrader(site: SiteInfo | undefined) {
    const calls: string[] = [];
    const drivers = {
      choose: () => ({
        ok: true,
        driver: {
          updateFirmware: async (t: { ip: string }, _img: unknown, mode: string) => {
            calls.push(`${mode} ${t.ip}`);
            return { outcome: 'success' as const, toVersion: '6.5.0' };
          },
        },
      }),
    } as unknown as DriverRegistry;
    const upgrade = deviceUpgrader({
      drivers,
      lock: new PhoneLock(),
      images: () => ({ imageId: 'img', version: '6.5.0', path: '/fw/img.ld', synced: true }),
      site: () => site,
      log: createLogger('silent'),
    });
    return { upgrade, calls };
  }

  it('a site-specific relay leaves a device outside its subnets alone: not_applicable, the phone never told', async () => {
    const { upgrade, calls } = upgrader({ subnets: ['127.20.0.0/16'], siteSpecific: true });
    expect(await upgrade(target('127.21.0.9'), image, 'trigger')).toEqual({ outcome: 'not_applicable', reason: "outside this relay's site (127.21.0.9 is not in 127.20.0.0/16)" });
    expect(await upgrade(target('127.20.3.4'), image, 'trigger')).toMatchObject({ outcome: 'success' });
    expect(calls).toEqual(['trigger 127.20.3.4']);
  });

  it('a relay that is not site-specific upgrades any target; a device caught mid-upgrade by a restart is verified wherever it is', async () => {
    const open = upgrader({ subnets: ['127.20.0.0/16'], siteSpecific: false });
    expect(await open.upgrade(target('127.21.0.9'), image, 'trigger')).toMatchObject({ outcome: 'success' });
    const specific = upgrader({ subnets: ['127.20.0.0/16'], siteSpecific: true });
    expect(await specific.upgrade(target('127.21.0.9'), image, 'verify')).toMatchObject({ outcome: 'success' });
    expect([...open.calls, ...specific.calls]).toEqual(['trigger 127.21.0.9', 'verify 127.21.0.9']);
  });
});

import type { CachedImage } from '../../devices/driver.js';
import { errorMessage } from '../../errors.js';
import { phoneKey, type PhoneLock } from '../../devices/phone-lock.js';
import type { DriverRegistry } from '../../devices/registry.js';
import { parseStoredTarget } from '../stored-target.js';
import { SiteRule, type SiteInfo } from '../site.js';
import type { Logger } from '../../log.js';
import type { UpgradeImage, UpgradeResult } from './runner.js';

export interface UpgraderDeps {
  readonly drivers: DriverRegistry;
  readonly lock: PhoneLock;
  readonly images: (imageId: string) => (CachedImage & { synced: boolean }) | undefined;
  /** The site of the relay's registration: a site-specific relay leaves devices outside its subnets alone, as with tasks. */
  readonly site: () => SiteInfo | undefined;
  readonly log: Logger;
}

/**
 * The rollout runner's `upgrade` port: the vendor's driver under the per-phone lock shared
 * with tasks and polls, so a phone never sees two firmware operations, or a poll in between.
 */
export function deviceUpgrader(d: UpgraderDeps): (target: string, image: UpgradeImage, mode: 'trigger' | 'verify') => Promise<UpgradeResult> {
  const site = new SiteRule((invalid) => d.log.warn({ invalid }, 'site subnets from the DMS that are not CIDR ranges are ignored'));
  return async (raw, image, mode) => {
    const parsed = parseStoredTarget(raw);
    if (!parsed.ok) return { outcome: 'failure', reason: parsed.reason };
    const target = parsed.target;
    // Checked before the phone is told anything; a device caught mid-upgrade by a restart is still verified.
    const outside = mode === 'trigger' ? site.refusal(d.site(), target.ip) : undefined;
    if (outside !== undefined) return { outcome: 'not_applicable', reason: outside };
    const choice = d.drivers.choose(target.vendor, 'updateFirmware');
    if (!choice.ok) return { outcome: 'not_applicable', reason: choice.reason };
    const driver = choice.driver;
    if (!driver.updateFirmware) return { outcome: 'not_applicable', reason: `${target.vendor} phones cannot update their firmware through this relay` };
    const cached = d.images(image.imageId);
    if (!cached) return { outcome: 'failure', reason: `image ${image.imageId} is not in the relay's desired image set` };
    const update = driver.updateFirmware.bind(driver);
    try {
      return await d.lock.run(phoneKey(target), () => update(target, { imageId: cached.imageId, version: cached.version, path: cached.path }, mode));
    } catch (err) {
      return { outcome: 'failure', reason: errorMessage(err) };
    }
  };
}

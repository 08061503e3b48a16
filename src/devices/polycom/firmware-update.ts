import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandResult, DeviceInfo, DeviceTarget, FirmwareRequest } from '../driver.js';
import { sameVersion, type FirmwareCatalog, type FirmwareWait } from '../firmware.js';

/**
 * A Polycom phone has no "install this image" call: it takes new firmware when it boots and
 * its provisioning config names an image it does not run (device-protocols §3.7). So the
 * update is a safe reboot (never cutting a call: the phone defers it until the call ends), a
 * bounded wait for the phone to come back, and a read of the version it came back with.
 */

export interface PolycomFirmwareOps {
  info(t: DeviceTarget): Promise<DeviceInfo>;
  reboot(t: DeviceTarget): Promise<{ deferred: boolean }>;
}

export async function updatePolycomFirmware(ops: PolycomFirmwareOps, catalog: FirmwareCatalog | undefined, wait: FirmwareWait, t: DeviceTarget, req: FirmwareRequest, now: () => number): Promise<CommandResult> {
  const image = catalog?.image(req.imageId);
  if (!image) return { outcome: 'failure', reason: `image ${req.imageId} is not in the relay's image set` };
  if (!image.synced) return { outcome: 'failure', reason: `image not synced: ${req.imageId} is not in the relay's cache yet` };

  const before = await ops.info(t);
  const base = { imageId: image.imageId, fromVersion: before.firmware };
  if (sameVersion(before.firmware, image.version)) {
    return { outcome: 'success', reason: 'already current', data: { ...base, toVersion: before.firmware, alreadyCurrent: true } };
  }

  const requestedAt = now();
  const { deferred } = await ops.reboot(t);
  const deadline = requestedAt + wait.timeoutMs;
  while (now() < deadline) {
    await sleep(wait.pollMs);
    let info: DeviceInfo;
    try {
      info = await ops.info(t);
    } catch {
      // Down while it reboots and flashes: expected, keep waiting.
      continue;
    }
    // Back once it answers with an uptime shorter than the time since the reboot was asked for.
    if (info.uptimeSeconds * 1000 >= now() - requestedAt) continue;
    const fetched = catalog?.servedSince(t.ip, image.path, requestedAt) ?? false;
    const data = { ...base, toVersion: info.firmware, fetchedFromCache: fetched, ...(deferred ? { deferredByCall: true } : {}) };
    if (sameVersion(info.firmware, image.version)) {
      return { outcome: 'success', reason: fetched ? 'upgraded from the relay cache' : 'upgraded (the image was not fetched through this relay)', data };
    }
    return { outcome: 'failure', reason: `the phone came back with ${info.firmware}, not ${image.version}${fetched ? ' (it fetched the image from the relay)' : ' (it did not fetch the image from this relay: check its provisioning configuration)'}`, data };
  }
  return {
    outcome: 'failure',
    reason: deferred ? `the phone was in a call and had not rebooted after ${Math.round(wait.timeoutMs / 1000)} s` : `the phone did not come back within ${Math.round(wait.timeoutMs / 1000)} s of its reboot`,
    data: base,
  };
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { CachedImage, DeviceInfo, DeviceTarget, FirmwareResult } from '../driver.js';
import { sameVersion, type FirmwareServed, type FirmwareWait } from '../firmware.js';

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

export interface FirmwareEnv {
  readonly wait: FirmwareWait;
  readonly served?: FirmwareServed | undefined;
  readonly now: () => number;
}

/** Polls until the phone answers with an uptime shorter than the time since `since` (it booted after it), or the wait ends. */
async function backAfter(ops: PolycomFirmwareOps, env: FirmwareEnv, t: DeviceTarget, since: number): Promise<DeviceInfo | undefined> {
  const deadline = since + env.wait.timeoutMs;
  while (env.now() < deadline) {
    await sleep(env.wait.pollMs);
    try {
      const info = await ops.info(t);
      if (info.uptimeSeconds * 1000 < env.now() - since) return info;
    } catch {
      // Down while it reboots and flashes: expected, keep waiting.
    }
  }
  return undefined;
}

export async function updatePolycomFirmware(ops: PolycomFirmwareOps, env: FirmwareEnv, t: DeviceTarget, image: CachedImage, mode: 'trigger' | 'verify'): Promise<FirmwareResult> {
  if (mode === 'verify') {
    // After a crash mid-upgrade: the phone may still be flashing; wait for an answer, then compare.
    const since = env.now();
    const deadline = since + env.wait.timeoutMs;
    while (env.now() < deadline) {
      try {
        const info = await ops.info(t);
        return sameVersion(info.firmware, image.version)
          ? { outcome: 'success', toVersion: info.firmware, reason: 'verified after a restart of the relay' }
          : { outcome: 'failure', toVersion: info.firmware, reason: `after a restart of the relay the phone runs ${info.firmware}, not ${image.version}` };
      } catch {
        await sleep(env.wait.pollMs);
      }
    }
    return { outcome: 'failure', reason: `the phone did not answer within ${Math.round(env.wait.timeoutMs / 1000)} s after a restart of the relay` };
  }

  const before = await ops.info(t);
  if (sameVersion(before.firmware, image.version)) return { outcome: 'success', alreadyCurrent: true, fromVersion: before.firmware, toVersion: before.firmware };

  const requestedAt = env.now();
  const { deferred } = await ops.reboot(t);
  const info = await backAfter(ops, env, t, requestedAt);
  if (!info) {
    const s = Math.round(env.wait.timeoutMs / 1000);
    return {
      outcome: 'failure',
      fromVersion: before.firmware,
      reason: deferred ? `the phone was in a call and had not rebooted after ${s} s` : `the phone did not come back within ${s} s of its reboot`,
    };
  }
  const fetched = env.served?.(t.ip, image.path, requestedAt) ?? false;
  const base = { fromVersion: before.firmware, toVersion: info.firmware, fetchedFromCache: fetched };
  if (sameVersion(info.firmware, image.version)) {
    return {
      outcome: 'success',
      ...base,
      reason: `${deferred ? 'rebooted after its call ended; ' : ''}${fetched ? 'upgraded from the relay cache' : 'upgraded (the image was not fetched through this relay)'}`,
    };
  }
  return {
    outcome: 'failure',
    ...base,
    reason: `the phone came back with ${info.firmware}, not ${image.version}${fetched ? ' (it fetched the image from the relay)' : ' (it did not fetch the image from this relay: check its provisioning configuration)'}`,
  };
}

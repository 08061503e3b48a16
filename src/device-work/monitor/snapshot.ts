import type { DeviceStatus, Driver, DeviceTarget } from '../../devices/driver.js';
import { DeviceError } from '../../devices/errors.js';

/** What the relay knows of one phone's state; the body of a device.status minus the id. */
export type DeviceSnapshot = DeviceStatus;

/** A clock drift allowance: now − uptime jitters by a second or two between polls. */
const REBOOT_TIME_SLACK_MS = 120_000;

/** Reads the phone's status through its driver; a phone that cannot be reached is offline, not an error. */
export async function readSnapshot(driver: Driver, t: DeviceTarget, now: number): Promise<DeviceSnapshot> {
  try {
    return await driver.readStatus(t, now);
  } catch (err) {
    // The relay held back (an OpenStage phone's contact-me minute, an interaction already
    // open): that says nothing about the phone, so it is no "offline".
    if (err instanceof DeviceError && (err.code === 'BUSY' || err.code === 'RATE_LIMITED') && !err.reached) throw err;
    if (err instanceof DeviceError && !err.reached) return { online: false };
    if (err instanceof DeviceError && (err.code === 'TIMEOUT' || err.code === 'CONNECTION_LOST')) return { online: false };
    throw err;
  }
}

/** Whether `next` says something new compared with `prev` (uptime alone is not news). */
export function snapshotChanged(prev: DeviceSnapshot | undefined, next: DeviceSnapshot): boolean {
  if (!prev) return true;
  if (!prev.online && !next.online) return false;
  if (prev.online !== next.online || prev.firmware !== next.firmware || prev.callState !== next.callState) return true;
  if (JSON.stringify(prev.lines ?? []) !== JSON.stringify(next.lines ?? [])) return true;
  if (prev.lastRebootAt && next.lastRebootAt) return Math.abs(Date.parse(prev.lastRebootAt) - Date.parse(next.lastRebootAt)) > REBOOT_TIME_SLACK_MS;
  return prev.lastRebootAt !== next.lastRebootAt;
}

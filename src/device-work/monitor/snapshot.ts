import type { Driver, DeviceTarget } from '../../devices/driver.js';
import { DeviceError } from '../../devices/errors.js';
import type { DeviceLine, OutboundBodies } from '../../management-agent/frames.js';

/** What the relay knows of one phone's state; the body of a device.status minus the id. */
export type DeviceSnapshot = Omit<OutboundBodies['device.status'], 'deviceId'>;

/** A clock drift allowance: now − uptime jitters by a second or two between polls. */
const REBOOT_TIME_SLACK_MS = 120_000;

/** Reads info, lines and call state (three calls on one kept-alive connection). */
export async function readSnapshot(driver: Driver, t: DeviceTarget, now: number): Promise<DeviceSnapshot> {
  try {
    const info = await driver.info(t);
    const lines = await driver.lines(t);
    const call = await driver.callState(t);
    return {
      online: true,
      uptimeSeconds: info.uptimeSeconds,
      lastRebootAt: new Date(Math.floor((now - info.uptimeSeconds * 1000) / 1000) * 1000).toISOString(),
      lines: lines.map((l): DeviceLine => ({ line: l.line, uri: l.uri, registered: l.registered })),
      callState: call.state,
      firmware: info.firmware,
    };
  } catch (err) {
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

import type { DeviceRepo } from '../../store/devices.js';
import type { Outbox } from '../../core/ports.js';
import type { Clock } from '../../core/clock.js';
import type { CallTracker } from './call-tracker.js';
import { snapshotChanged, type DeviceSnapshot } from './snapshot.js';
import type { SpaceWatch } from '../../store/space.js';

/**
 * The last status reported per device. A new snapshot becomes a device.status frame only when
 * it says something new, and the stored status and the outbox row are written together.
 */
export class StatusBook {
  constructor(
    private readonly devices: DeviceRepo,
    private readonly outbox: Outbox,
    private readonly clock: Clock,
    private readonly calls?: CallTracker,
    private readonly space?: SpaceWatch,
  ) {}

  /**
   * Returns true if a device.status was queued. Unknown devices are ignored. `next` may be
   * derived from the last known status (a notification changes part of it), read once here.
   *
   * With the data disk full the stored status and the frame are both rolled back, so the
   * change is still a change at the next poll after space is back and is reported then.
   */
  record(deviceId: string, next: DeviceSnapshot | ((prev: DeviceSnapshot | undefined) => DeviceSnapshot)): boolean {
    try {
      return this.write(deviceId, next);
    } catch (err) {
      if (this.space?.noteFailure(err, 'device status')) return false;
      throw err;
    }
  }

  private write(deviceId: string, next: DeviceSnapshot | ((prev: DeviceSnapshot | undefined) => DeviceSnapshot)): boolean {
    return this.devices.transaction(() => {
      const row = this.devices.get(deviceId);
      if (!row) return false;
      const prev = row.status ? (JSON.parse(row.status) as DeviceSnapshot) : undefined;
      const snap = typeof next === 'function' ? next(prev) : next;
      this.calls?.observe(deviceId, snap.callState, snap.online, this.clock.now());
      const changed = snapshotChanged(prev, snap);
      // Offline keeps the last known facts for the next comparison, but reports only `online`.
      const stored = snap.online ? snap : { ...(prev ?? {}), online: false };
      this.devices.setStatus(deviceId, JSON.stringify(stored), snap.online, this.clock.now());
      if (changed) this.outbox.enqueue('device.status', { deviceId, ...snap });
      return changed;
    });
  }
}

import type { DeviceRepo } from '../../store/devices.js';
import type { Outbox } from '../../core/ports.js';
import type { PhoneEvent, PhoneEventSink } from '../../devices/vendor.js';
import type { StatusBook } from './status-book.js';
import type { SpaceWatch } from '../../store/space.js';

/**
 * What phones push to the relay on their own (Polycom telephony notifications today), after
 * the vendor's route has parsed it: each becomes a device.event and, when it changes what is
 * known, a device.status at once. The phone is found by its source address, or by the MAC it
 * names when the address is unknown; an unknown phone's event still reaches the DMS.
 */
export class PhoneEvents implements PhoneEventSink {
  received = 0;
  rejected = 0;

  /** Events that could not be queued because the data disk was full (counted in the STORE_FULL episode too). */
  lostToFullDisk = 0;

  constructor(private readonly deps: { devices: DeviceRepo; outbox: Outbox; book: StatusBook; space?: SpaceWatch | undefined }) {}

  event(e: PhoneEvent): void {
    this.received++;
    const device = this.deps.devices.byIp(e.ip) ?? (e.mac ? this.deps.devices.byMac(e.mac) : undefined);
    try {
      this.deps.outbox.enqueue('device.event', { ...(device ? { deviceId: device.deviceId } : {}), ip: e.ip, event: e.event });
    } catch (err) {
      // An event is a moment, not a state: it cannot wait for space. The status it carries is
      // recorded below (and reported by the next poll once space is back).
      if (!this.deps.space?.noteFailure(err, 'device event')) throw err;
      this.lostToFullDisk++;
    }
    if (device && e.status) this.deps.book.record(device.deviceId, e.status);
  }

  refused(): void {
    this.rejected++;
  }
}

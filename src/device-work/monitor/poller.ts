import type PQueue from 'p-queue';
import type { Logger } from '../../log.js';
import type { Clock } from '../../core/clock.js';
import { errorCode, errorMessage } from '../../errors.js';
import type { Driver } from '../../devices/driver.js';
import { phoneKey, type PhoneLock } from '../../devices/phone-lock.js';
import type { DeviceRepo, DeviceRow } from '../../store/devices.js';
import { parseStoredTarget } from '../stored-target.js';
import { readSnapshot } from './snapshot.js';
import { DeviceError } from '../../devices/errors.js';
import type { StatusBook } from './status-book.js';

export interface PollerDeps {
  readonly devices: DeviceRepo;
  readonly book: StatusBook;
  /** The driver that reads a vendor's status; undefined when no driver can. */
  readonly driverFor: (vendor: string) => Driver | undefined;
  readonly queue: PQueue;
  readonly lock: PhoneLock;
  readonly clock: Clock;
  readonly log: Logger;
  readonly intervalMs: number;
}

const PAGE = 200;

/**
 * Polls every known device once per interval, one device every interval/N, so 50,000 phones
 * every 2 hours is a steady 7 polls a second instead of a burst. Polls share the task queue
 * and the per-phone lock, so a poll never runs beside a command on the same phone.
 */
export class DevicePoller {
  private timer: NodeJS.Timeout | undefined;
  private page: DeviceRow[] = [];
  private cursor = '';
  private readonly inFlight = new Set<string>();
  polls = 0;
  failures = 0;
  /** Polls put off because the relay holds back from that phone for now (OpenStage: one contact-me a minute). */
  deferred = 0;

  constructor(private readonly d: PollerDeps) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Devices known, re-counted once per page of devices rather than on every tick. */
  private known = -1;

  private schedule(): void {
    if (this.known < 0) this.known = this.d.devices.counts().known;
    // No devices yet: look again within a minute rather than after a whole interval.
    const step = this.known === 0 ? Math.min(this.d.intervalMs, 60_000) : Math.max(10, Math.floor(this.d.intervalMs / this.known));
    if (this.known === 0) this.known = -1;
    this.timer = setTimeout(() => {
      this.tick();
      this.schedule();
    }, step);
    this.timer.unref();
  }

  private tick(): void {
    if (this.page.length === 0) {
      this.known = -1; // re-counted every page, so devices added mid-cycle tighten the spacing
      this.page = this.d.devices.page(this.cursor, PAGE);
      if (this.page.length === 0) {
        this.cursor = '';
        this.page = this.d.devices.page('', PAGE);
      }
    }
    const row = this.page.shift();
    if (!row) return;
    this.cursor = row.deviceId;
    // A phone still being polled (slow or timing out) is not queued twice.
    if (this.inFlight.has(row.deviceId)) return;
    this.inFlight.add(row.deviceId);
    void this.poll(row).finally(() => this.inFlight.delete(row.deviceId));
  }

  /** Polls one device now through the shared queue; resolves when its status is recorded. */
  async poll(row: Pick<DeviceRow, 'deviceId' | 'target'>): Promise<void> {
    const parsed = parseStoredTarget(row.target);
    if (!parsed.ok) {
      this.failures++;
      this.d.log.warn({ code: 'DEVICE_TARGET_INVALID', deviceId: row.deviceId, err: parsed.reason }, 'status poll skipped');
      return;
    }
    const t = parsed.target;
    // Vendors without a driver that reads status are known devices all the same; nothing to poll.
    const driver = this.d.driverFor(t.vendor);
    if (!driver) return;
    try {
      await this.d.queue.add(() =>
        this.d.lock.run(phoneKey(t), async () => {
          const snap = await readSnapshot(driver, t, this.d.clock.now());
          this.d.book.record(row.deviceId, snap);
        }),
      );
      this.polls++;
    } catch (err) {
      if (err instanceof DeviceError && (err.code === 'BUSY' || err.code === 'RATE_LIMITED') && !err.reached) {
        // Asked again at its next turn; a phone is never contacted faster than its driver allows.
        this.deferred++;
        this.d.log.debug({ deviceId: row.deviceId, ip: t.ip, err: errorMessage(err) }, 'status poll put off');
        return;
      }
      this.failures++;
      this.d.log.warn({ code: errorCode(err), deviceId: row.deviceId, ip: t.ip, err: errorMessage(err) }, 'status poll failed');
    }
  }
}

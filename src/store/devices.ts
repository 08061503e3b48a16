import type { Db } from './db.js';
import { openTarget, sealTarget } from './secrets.js';

/** A phone the relay knows (from the tasks that named it) with its last reported status. */
export interface DeviceRow {
  deviceId: string;
  mac: string;
  ip: string;
  /** The DMS target as JSON (address, port, model, credentials); the password is sealed in the row and opened on read. */
  target: string;
  status: string | null;
  online: number | null;
}

export interface PhoneGroup {
  model: string;
  firmware: string;
  known: number;
  online: number;
}

export interface PhonesSummary {
  known: number;
  online: number;
  groups: PhoneGroup[];
  otherGroups: { groups: number; known: number; online: number };
  recentlyOffline: { deviceId: string; mac: string; ip: string; model: string; offlineSince: string | null }[];
}

/** MACs are stored and looked up in one form (12 lower-case hex digits), whatever separators the DMS or a phone used. */
const normMac = (mac: string): string => mac.toLowerCase().replace(/[^0-9a-f]/g, '');

/** Known devices, their last status, and pinned phone certificates. */
export class DeviceRepo {
  private readonly upsertStmt;
  private readonly getStmt;
  private readonly byIpStmt;
  private readonly byMacStmt;
  private readonly pageStmt;
  private readonly countStmt;
  private readonly setStatusStmt;
  private readonly groupsStmt;
  private readonly offlineStmt;
  private readonly pinGet;
  private readonly pinSet;
  private readonly pinDel;
  private readonly pinList;

  constructor(private readonly db: Db) {
    this.upsertStmt = db.prepare(
      `INSERT INTO devices (device_id, mac, ip, target, model, updated_at) VALUES (@deviceId, @mac, @ip, @target, COALESCE(json_extract(@target, '$.model'), ''), @now)
       ON CONFLICT(device_id) DO UPDATE SET mac = excluded.mac, ip = excluded.ip, target = excluded.target, model = excluded.model, updated_at = excluded.updated_at`,
    );
    this.getStmt = db.prepare<[string], DeviceRow>('SELECT device_id AS deviceId, mac, ip, target, status, online FROM devices WHERE device_id = ?');
    this.byIpStmt = db.prepare<[string], DeviceRow>('SELECT device_id AS deviceId, mac, ip, target, status, online FROM devices WHERE ip = ? ORDER BY updated_at DESC LIMIT 1');
    this.byMacStmt = db.prepare<[string], DeviceRow>('SELECT device_id AS deviceId, mac, ip, target, status, online FROM devices WHERE mac = ? ORDER BY updated_at DESC LIMIT 1');
    this.pageStmt = db.prepare<[string, number], DeviceRow>(
      'SELECT device_id AS deviceId, mac, ip, target, status, online FROM devices WHERE device_id > ? ORDER BY device_id LIMIT ?',
    );
    this.countStmt = db.prepare<[], { known: number; online: number }>('SELECT COUNT(*) AS known, COALESCE(SUM(online), 0) AS online FROM devices');
    // online_changed_at moves only when online flips (SET sees the row's old values).
    this.setStatusStmt = db.prepare(
      `UPDATE devices SET status = @status, online = @online, updated_at = @now, firmware = COALESCE(json_extract(@status, '$.firmware'), firmware),
         online_changed_at = CASE WHEN online IS @online THEN online_changed_at ELSE @now END WHERE device_id = @deviceId`,
    );
    this.groupsStmt = db.prepare<[], PhoneGroup>(
      `SELECT model, firmware, COUNT(*) AS known, COALESCE(SUM(online = 1), 0) AS online
       FROM devices GROUP BY model, firmware ORDER BY known DESC, model, firmware`,
    );
    this.offlineStmt = db.prepare<[number], { deviceId: string; mac: string; ip: string; model: string; changedAt: number | null }>(
      `SELECT device_id AS deviceId, mac, ip, model, online_changed_at AS changedAt
       FROM devices WHERE online = 0 ORDER BY online_changed_at DESC LIMIT ?`,
    );
    this.pinGet = db.prepare<[string], { fingerprint: string }>('SELECT fingerprint FROM device_pins WHERE origin = ?');
    this.pinSet = db.prepare('INSERT OR IGNORE INTO device_pins (origin, fingerprint, pinned_at) VALUES (?, ?, ?)');
    this.pinDel = db.prepare('DELETE FROM device_pins WHERE origin = ?');
    this.pinList = db.prepare<[], { origin: string; fingerprint: string; pinnedAt: number }>('SELECT origin, fingerprint, pinned_at AS pinnedAt FROM device_pins ORDER BY origin');
  }

  upsert(d: { deviceId: string; mac: string; ip: string; target: string }, now: number): void {
    this.upsertStmt.run({ deviceId: d.deviceId, mac: normMac(d.mac), ip: d.ip, target: sealTarget(this.db, d.target), now });
  }

  get(deviceId: string): DeviceRow | undefined {
    return this.opened(this.getStmt.get(deviceId));
  }

  byIp(ip: string): DeviceRow | undefined {
    return this.opened(this.byIpStmt.get(ip));
  }

  byMac(mac: string): DeviceRow | undefined {
    return this.opened(this.byMacStmt.get(normMac(mac)));
  }

  /** Keyset pagination, so walking 50,000 devices never holds them all. */
  page(afterId: string, limit: number): DeviceRow[] {
    return this.pageStmt.all(afterId, limit).map((r) => this.opened(r)!);
  }

  /** The password is opened only when the target is read, so listing devices needs no key. */
  private opened(row: DeviceRow | undefined): DeviceRow | undefined {
    if (!row) return undefined;
    const db = this.db;
    let target: string | undefined;
    return {
      deviceId: row.deviceId,
      mac: row.mac,
      ip: row.ip,
      status: row.status,
      online: row.online,
      get target() {
        target ??= openTarget(db, row.target);
        return target;
      },
    };
  }

  counts(): { known: number; online: number } {
    return this.countStmt.get() ?? { known: 0, online: 0 };
  }

  setStatus(deviceId: string, status: string, online: boolean, now: number): void {
    this.setStatusStmt.run({ status, online: online ? 1 : 0, now, deviceId });
  }

  /**
   * Known/online per model and firmware, counted in SQL and streamed: memory stays bounded
   * by `maxGroups` whatever the fleet size (the rest is summed into `otherGroups`).
   */
  summary(maxGroups: number, maxOffline: number): PhonesSummary {
    const groups: PhoneGroup[] = [];
    const otherGroups = { groups: 0, known: 0, online: 0 };
    let known = 0;
    let online = 0;
    for (const g of this.groupsStmt.iterate()) {
      known += g.known;
      online += g.online;
      if (groups.length < maxGroups) groups.push(g);
      else {
        otherGroups.groups++;
        otherGroups.known += g.known;
        otherGroups.online += g.online;
      }
    }
    const recentlyOffline = this.offlineStmt.all(maxOffline).map((r) => ({
      deviceId: r.deviceId,
      mac: r.mac,
      ip: r.ip,
      model: r.model,
      offlineSince: r.changedAt === null ? null : new Date(r.changedAt).toISOString(),
    }));
    return { known, online, groups, otherGroups, recentlyOffline };
  }

  /** Pins on first sight; afterwards answers whether the fingerprint is the pinned one. */
  checkPin(origin: string, fingerprint: string, now: number): { ok: true } | { ok: false; pinned: string } {
    const pinned = this.pinGet.get(origin)?.fingerprint;
    if (pinned === undefined) {
      this.pinSet.run(origin, fingerprint, now);
      return { ok: true };
    }
    return pinned === fingerprint ? { ok: true } : { ok: false, pinned };
  }

  clearPin(origin: string): boolean {
    return this.pinDel.run(origin).changes > 0;
  }

  pins(): { origin: string; fingerprint: string; pinnedAt: number }[] {
    return this.pinList.all();
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}

import type { Db } from './db.js';
import { openTarget, sealTarget } from './secrets.js';

import type { RolloutState, RolloutTotals } from '../core/outbound-frames.js';

export type { RolloutState, RolloutTotals } from '../core/outbound-frames.js';
export type RolloutPhase = 'pending' | 'waiting_idle' | 'running' | 'upgraded' | 'already_current' | 'failed' | 'not_applicable' | 'not_started';

/** Rollouts not over yet (waiting, running or paused) and their devices upgrading or waiting for a phone to be idle. */
export interface RolloutCounts {
  active: number;
  devicesUpgrading: number;
  devicesWaitingIdle: number;
}

/** Phases after which a device has had its one `rollout.result`. */
export const FINAL_PHASES: readonly RolloutPhase[] = ['upgraded', 'already_current', 'failed', 'not_applicable', 'not_started'];

export interface RolloutRow {
  rolloutId: string;
  name: string;
  imageId: string;
  /** The policy as JSON. */
  policy: string;
  state: RolloutState;
  reason: string | null;
  submittedAt: number;
  lastStartAt: number | null;
  finishedAt: number | null;
}

export interface RolloutDeviceRow {
  rolloutId: string;
  seq: number;
  deviceId: string;
  /** The target as JSON. */
  target: string;
  phase: RolloutPhase;
  retryAt: number | null;
  fromVersion: string | null;
  toVersion: string | null;
  reason: string | null;
}

const R_COLS = 'rollout_id AS rolloutId, name, image_id AS imageId, policy, state, reason, submitted_at AS submittedAt, last_start_at AS lastStartAt, finished_at AS finishedAt';
const D_COLS = 'rollout_id AS rolloutId, seq, device_id AS deviceId, target, phase, retry_at AS retryAt, from_version AS fromVersion, to_version AS toVersion, reason';
const EMPTY: RolloutTotals = { total: 0, upgraded: 0, alreadyCurrent: 0, inProgress: 0, waitingIdle: 0, failed: 0, notApplicable: 0, notStarted: 0 };

/** Rollouts and one row per (rollout, device): the durable truth the rollout runner works from. */
export class RolloutRepo {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      insert: db.prepare("INSERT INTO rollouts (rollout_id, name, image_id, policy, state, submitted_at) VALUES (?, ?, ?, ?, 'waiting', ?)"),
      insertDevice: db.prepare(
        "INSERT INTO rollout_devices (rollout_id, seq, device_id, target, phase) VALUES (?, ?, ?, ?, 'pending') ON CONFLICT (rollout_id, device_id) DO UPDATE SET target = excluded.target",
      ),
      maxSeq: db.prepare<[string], { n: number | null }>('SELECT MAX(seq) AS n FROM rollout_devices WHERE rollout_id = ?'),
      get: db.prepare<[string], RolloutRow>(`SELECT ${R_COLS} FROM rollouts WHERE rollout_id = ?`),
      active: db.prepare<[], RolloutRow>(`SELECT ${R_COLS} FROM rollouts WHERE finished_at IS NULL ORDER BY submitted_at, rollout_id`),
      all: db.prepare<[number], RolloutRow>(`SELECT ${R_COLS} FROM rollouts ORDER BY submitted_at DESC, rollout_id LIMIT ?`),
      setState: db.prepare('UPDATE rollouts SET state = ?, reason = ? WHERE rollout_id = ?'),
      finish: db.prepare('UPDATE rollouts SET finished_at = ? WHERE rollout_id = ? AND finished_at IS NULL'),
      setPolicy: db.prepare('UPDATE rollouts SET policy = ? WHERE rollout_id = ?'),
      setLastStart: db.prepare('UPDATE rollouts SET last_start_at = ? WHERE rollout_id = ?'),
      removeUnstarted: db.prepare("DELETE FROM rollout_devices WHERE rollout_id = ? AND device_id = ? AND phase IN ('pending', 'waiting_idle')"),
      deviceIds: db.prepare<[string], { deviceId: string }>('SELECT device_id AS deviceId FROM rollout_devices WHERE rollout_id = ?'),
      // Each reads the first rows of an index (migrations 006 and 010), never sorting the rollout's rows.
      nextDue: db.prepare<[string, number, number], RolloutDeviceRow>(
        `SELECT ${D_COLS} FROM rollout_devices WHERE rollout_id = ? AND phase = 'waiting_idle' AND retry_at <= ? ORDER BY retry_at LIMIT ?`,
      ),
      nextPending: db.prepare<[string, number], RolloutDeviceRow>(`SELECT ${D_COLS} FROM rollout_devices WHERE rollout_id = ? AND phase = 'pending' ORDER BY seq LIMIT ?`),
      earliestRetry: db.prepare<[string], { t: number | null }>("SELECT MIN(retry_at) AS t FROM rollout_devices WHERE rollout_id = ? AND phase = 'waiting_idle'"),
      inPhase: db.prepare<[string, string], RolloutDeviceRow>(`SELECT ${D_COLS} FROM rollout_devices WHERE rollout_id = ? AND phase = ? ORDER BY seq`),
      markRunning: db.prepare(
        "UPDATE rollout_devices SET phase = 'running', started_at = ?, retry_at = NULL WHERE rollout_id = ? AND seq = ? AND phase IN ('pending', 'waiting_idle')",
      ),
      markWaiting: db.prepare("UPDATE rollout_devices SET phase = 'waiting_idle', retry_at = ? WHERE rollout_id = ? AND seq = ? AND phase IN ('pending', 'waiting_idle')"),
      // The password has no further use once the device has its result: blanked in the same write.
      finishDevice: db.prepare(
        "UPDATE rollout_devices SET phase = ?, from_version = ?, to_version = ?, reason = ?, finished_at = ?, target = CASE WHEN json_valid(target) AND json_extract(target, '$.credentials.password') IS NOT NULL THEN json_set(target, '$.credentials.password', '') ELSE target END WHERE rollout_id = ? AND seq = ? AND phase NOT IN ('upgraded', 'already_current', 'failed', 'not_applicable', 'not_started')",
      ),
      unstarted: db.prepare<[string], RolloutDeviceRow>(`SELECT ${D_COLS} FROM rollout_devices WHERE rollout_id = ? AND phase IN ('pending', 'waiting_idle') ORDER BY seq`),
      // From the counts the triggers of migration 009 keep: constant time however many devices.
      totals: db.prepare<[string], RolloutTotals>(
        `SELECT COALESCE(SUM(n), 0) AS total,
           COALESCE(SUM(CASE WHEN phase = 'upgraded' THEN n END), 0) AS upgraded,
           COALESCE(SUM(CASE WHEN phase = 'already_current' THEN n END), 0) AS alreadyCurrent,
           COALESCE(SUM(CASE WHEN phase = 'running' THEN n END), 0) AS inProgress,
           COALESCE(SUM(CASE WHEN phase = 'waiting_idle' THEN n END), 0) AS waitingIdle,
           COALESCE(SUM(CASE WHEN phase = 'failed' THEN n END), 0) AS failed,
           COALESCE(SUM(CASE WHEN phase = 'not_applicable' THEN n END), 0) AS notApplicable,
           COALESCE(SUM(CASE WHEN phase IN ('pending', 'not_started') THEN n END), 0) AS notStarted
         FROM rollout_phase_counts WHERE rollout_id = ?`,
      ),
      toStart: db.prepare<[string], { n: number }>("SELECT COALESCE(SUM(n), 0) AS n FROM rollout_phase_counts WHERE rollout_id = ? AND phase IN ('pending', 'waiting_idle')"),
      failures: db.prepare<[string, number], { deviceId: string; reason: string | null }>(
        "SELECT device_id AS deviceId, reason FROM rollout_devices WHERE rollout_id = ? AND phase = 'failed' ORDER BY finished_at DESC, seq DESC LIMIT ?",
      ),
      // Devices of unfinished rollouts only: finished ones keep their rows for the record.
      counts: db.prepare<[], RolloutCounts>(
        `SELECT (SELECT COUNT(*) FROM rollouts WHERE finished_at IS NULL AND state IN ('waiting', 'running', 'paused')) AS active,
           COALESCE(SUM(CASE WHEN phase = 'running' THEN n END), 0) AS devicesUpgrading,
           COALESCE(SUM(CASE WHEN phase = 'waiting_idle' THEN n END), 0) AS devicesWaitingIdle
         FROM rollout_phase_counts WHERE rollout_id IN (SELECT rollout_id FROM rollouts WHERE finished_at IS NULL)`,
      ),
    };
  }

  insert(r: { rolloutId: string; name: string; imageId: string; policy: string }, targets: readonly { deviceId: string; target: string }[], now: number): void {
    this.s.insert.run(r.rolloutId, r.name, r.imageId, r.policy, now);
    this.addTargets(r.rolloutId, targets);
  }

  /** Adds devices not in the rollout yet; a device already in it keeps its phase (an upgraded one stays upgraded). */
  addTargets(rolloutId: string, targets: readonly { deviceId: string; target: string }[]): void {
    let seq = this.s.maxSeq.get(rolloutId)?.n ?? 0;
    for (const t of targets) this.s.insertDevice.run(rolloutId, ++seq, t.deviceId, sealTarget(this.db, t.target));
  }

  /** Drops devices no longer targeted, unless they have started (those finish and report). */
  removeUnstarted(rolloutId: string, keep: ReadonlySet<string>): void {
    for (const { deviceId } of this.s.deviceIds.all(rolloutId)) if (!keep.has(deviceId)) this.s.removeUnstarted.run(rolloutId, deviceId);
  }

  get(rolloutId: string): RolloutRow | undefined {
    return this.s.get.get(rolloutId);
  }

  /** Rollouts not finished, including aborted/cancelled ones whose running devices still have to report. */
  active(): RolloutRow[] {
    return this.s.active.all();
  }

  list(limit: number): RolloutRow[] {
    return this.s.all.all(limit);
  }

  setState(rolloutId: string, state: RolloutState, reason: string | null): void {
    this.s.setState.run(state, reason, rolloutId);
  }

  /** Nothing of the rollout is left to do or report: it leaves the active list. */
  finish(rolloutId: string, now: number): void {
    this.s.finish.run(now, rolloutId);
  }

  setPolicy(rolloutId: string, policy: string): void {
    this.s.setPolicy.run(policy, rolloutId);
  }

  setLastStart(rolloutId: string, at: number): void {
    this.s.setLastStart.run(at, rolloutId);
  }

  /**
   * At most `limit` devices that may be started now: first those waiting for idle whose retry
   * time has passed (they have waited longest), then pending ones in submission order.
   */
  next(rolloutId: string, now: number, limit: number): RolloutDeviceRow[] {
    const due = this.s.nextDue.all(rolloutId, now, limit);
    const rows = due.length < limit ? due.concat(this.s.nextPending.all(rolloutId, limit - due.length)) : due;
    return this.opened(rows);
  }

  /** Devices that have not started and still may. */
  toStart(rolloutId: string): number {
    return this.s.toStart.get(rolloutId)?.n ?? 0;
  }

  earliestRetry(rolloutId: string): number | null {
    return this.s.earliestRetry.get(rolloutId)?.t ?? null;
  }

  running(rolloutId: string): RolloutDeviceRow[] {
    return this.opened(this.s.inPhase.all(rolloutId, 'running'));
  }

  /** Written before the phone is told anything: after a crash this row means "verify, don't trigger". */
  markRunning(rolloutId: string, seq: number, now: number): boolean {
    return this.s.markRunning.run(now, rolloutId, seq).changes === 1;
  }

  markWaitingIdle(rolloutId: string, seq: number, retryAt: number): void {
    this.s.markWaiting.run(retryAt, rolloutId, seq);
  }

  /** Returns false if the device already had its result (a result is never reported twice). */
  finishDevice(rolloutId: string, seq: number, phase: RolloutPhase, r: { fromVersion?: string | null; toVersion?: string | null; reason?: string | null }, now: number): boolean {
    return this.s.finishDevice.run(phase, r.fromVersion ?? null, r.toVersion ?? null, r.reason ?? null, now, rolloutId, seq).changes === 1;
  }

  unstarted(rolloutId: string): RolloutDeviceRow[] {
    return this.opened(this.s.unstarted.all(rolloutId));
  }

  totals(rolloutId: string): RolloutTotals {
    return this.s.totals.get(rolloutId) ?? EMPTY;
  }

  /** The newest failed devices of a rollout with their reasons. */
  failures(rolloutId: string, limit: number): { deviceId: string; reason: string | null }[] {
    return this.s.failures.all(rolloutId, limit);
  }

  counts(): RolloutCounts {
    return this.s.counts.get() ?? { active: 0, devicesUpgrading: 0, devicesWaitingIdle: 0 };
  }

  /** Rows as the runner uses them: each target's password opened (it is sealed at rest). */
  private opened(rows: RolloutDeviceRow[]): RolloutDeviceRow[] {
    return rows.map((r) => ({ ...r, target: openTarget(this.db, r.target) }));
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}

import type { Db } from './db.js';
import { errorCode, errorMessage } from '../errors.js';
import { openCommand, openTarget, redactCommand, sealCommand, sealTarget } from './secrets.js';

export type TaskState = 'scheduled' | 'executing' | 'done';
export type DeviceRunState = 'pending' | 'sending' | 'done';

export interface TaskRow {
  taskId: string;
  name: string;
  /** The command as JSON (sealed in the row while the task is not done; opened on read). */
  command: string;
  state: TaskState;
  executeAt: number | null;
  expiresAt: number | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface TaskDeviceRow {
  taskId: string;
  seq: number;
  deviceId: string;
  /** The target as JSON (its password sealed in the row until the device is done; opened on read). */
  target: string;
  state: DeviceRunState;
  outcome: string | null;
  reason: string | null;
  attempts: number;
}

export interface TaskCounts {
  total: number;
  success: number;
  failure: number;
  notApplicable: number;
  inProgress: number;
}

const TASK_COLS =
  'task_id AS taskId, name, command, state, execute_at AS executeAt, expires_at AS expiresAt, created_at AS createdAt, started_at AS startedAt, finished_at AS finishedAt';
export interface TaskOverview extends TaskCounts {
  taskId: string;
  name: string;
  kind: string;
  state: TaskState;
  createdAt: number;
}

const DEV_COLS = 'task_id AS taskId, seq, device_id AS deviceId, target, state, outcome, reason, attempts';

/** Tasks and one row per (task, device): the durable truth the task runner works from. */
export class TaskRepo {
  private readonly s;

  constructor(private readonly db: Db) {
    this.s = {
      insertTask: db.prepare('INSERT INTO tasks (task_id, name, command, state, execute_at, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insertDevice: db.prepare("INSERT INTO task_devices (task_id, seq, device_id, target, state) VALUES (?, ?, ?, ?, 'pending')"),
      get: db.prepare<[string], TaskRow>(`SELECT ${TASK_COLS} FROM tasks WHERE task_id = ?`),
      expiresAt: db.prepare<[string], { expiresAt: number | null }>('SELECT expires_at AS expiresAt FROM tasks WHERE task_id = ?'),
      byState: db.prepare<[string], TaskRow>(`SELECT ${TASK_COLS} FROM tasks WHERE state = ? ORDER BY COALESCE(execute_at, created_at), task_id`),
      setName: db.prepare('UPDATE tasks SET name = ? WHERE task_id = ?'),
      setExecuteAt: db.prepare('UPDATE tasks SET execute_at = ? WHERE task_id = ?'),
      clearDevices: db.prepare('DELETE FROM task_devices WHERE task_id = ?'),
      del: db.prepare('DELETE FROM tasks WHERE task_id = ?'),
      start: db.prepare("UPDATE tasks SET state = 'executing', started_at = ? WHERE task_id = ? AND state = 'scheduled'"),
      finish: db.prepare("UPDATE tasks SET state = 'done', finished_at = ? WHERE task_id = ?"),
      rawCommand: db.prepare<[string], { command: string }>('SELECT command FROM tasks WHERE task_id = ?'),
      setCommand: db.prepare('UPDATE tasks SET command = ? WHERE task_id = ?'),
      pending: db.prepare<[string, number, number], TaskDeviceRow>(`SELECT ${DEV_COLS} FROM task_devices WHERE task_id = ? AND state = 'pending' AND seq > ? ORDER BY seq LIMIT ?`),
      sending: db.prepare<[string], TaskDeviceRow>(`SELECT ${DEV_COLS} FROM task_devices WHERE task_id = ? AND state = 'sending'`),
      markSending: db.prepare("UPDATE task_devices SET state = 'sending', attempts = attempts + 1 WHERE task_id = ? AND seq = ?"),
      markPending: db.prepare("UPDATE task_devices SET state = 'pending' WHERE task_id = ? AND seq = ?"),
      // The device's password has no further use once it has its result.
      markDone: db.prepare(
        "UPDATE task_devices SET state = 'done', outcome = ?, reason = ?, target = CASE WHEN json_valid(target) AND json_type(target, '$.credentials.password') = 'text' THEN json_set(target, '$.credentials.password', '') ELSE target END WHERE task_id = ? AND seq = ? AND state != 'done'",
      ),
      totals: db.prepare<[string], TaskCounts>(
        "SELECT COUNT(*) AS total, COALESCE(SUM(outcome = 'success'), 0) AS success, COALESCE(SUM(outcome = 'failure'), 0) AS failure, COALESCE(SUM(outcome = 'not_applicable'), 0) AS notApplicable, COALESCE(SUM(state != 'done'), 0) AS inProgress FROM task_devices WHERE task_id = ?",
      ),
      counts: db.prepare<[], { scheduled: number; running: number }>(
        "SELECT COALESCE(SUM(state = 'scheduled'), 0) AS scheduled, COALESCE(SUM(state = 'executing'), 0) AS running FROM tasks",
      ),
      // Unfinished tasks first, then the newest. The command may be sealed (its args may hold a
      // password), so SQL cannot read its kind: recent() opens it and keeps only the kind.
      recent: db.prepare<[number], Omit<TaskOverview, 'kind'> & { command: string }>(
        `SELECT t.task_id AS taskId, t.name AS name, t.command AS command, t.state AS state, t.created_at AS createdAt,
           COUNT(d.seq) AS total, COALESCE(SUM(d.outcome = 'success'), 0) AS success, COALESCE(SUM(d.outcome = 'failure'), 0) AS failure,
           COALESCE(SUM(d.outcome = 'not_applicable'), 0) AS notApplicable, COALESCE(SUM(d.state != 'done'), 0) AS inProgress
         FROM (SELECT task_id, name, command, state, created_at FROM tasks ORDER BY state = 'done', created_at DESC LIMIT ?) t
         LEFT JOIN task_devices d ON d.task_id = t.task_id
         GROUP BY t.task_id ORDER BY t.state = 'done', t.created_at DESC`,
      ),
      openDevices: db.prepare<[], { n: number }>(
        "SELECT COUNT(*) AS n FROM task_devices d JOIN tasks t ON t.task_id = d.task_id WHERE t.state = 'executing' AND d.state != 'done'",
      ),
    };
  }

  insert(
    t: { taskId: string; name: string; command: string; executeAt: number | null; expiresAt: number | null },
    targets: readonly { deviceId: string; target: string }[],
    now: number,
  ): void {
    this.s.insertTask.run(t.taskId, t.name, sealCommand(this.db, t.command), 'scheduled', t.executeAt, t.expiresAt, now);
    this.insertTargets(t.taskId, targets);
  }

  private insertTargets(taskId: string, targets: readonly { deviceId: string; target: string }[]): void {
    targets.forEach((d, i) => this.s.insertDevice.run(taskId, i + 1, d.deviceId, sealTarget(this.db, d.target)));
  }

  get(taskId: string): TaskRow | undefined {
    const row = this.s.get.get(taskId);
    return row && this.opened(row);
  }

  /** The task's expiry (null: none; undefined: no such task), without opening its sealed command. */
  expiresAt(taskId: string): number | null | undefined {
    return this.s.expiresAt.get(taskId)?.expiresAt;
  }

  inState(state: TaskState): TaskRow[] {
    return this.s.byState.all(state).map((r) => this.opened(r));
  }

  /** An unopenable command reads as `{"unreadable": reason}`, which ends its task with that reason. */
  private opened(row: TaskRow): TaskRow {
    try {
      return { ...row, command: openCommand(this.db, row.command) };
    } catch (err) {
      return { ...row, command: JSON.stringify({ unreadable: `${errorCode(err) ?? 'SECRETS_UNREADABLE'}: ${errorMessage(err)}` }) };
    }
  }

  private openedDevice = (row: TaskDeviceRow): TaskDeviceRow => ({ ...row, target: openTarget(this.db, row.target) });

  update(taskId: string, changes: { name?: string | undefined; executeAt?: number | undefined; targets?: readonly { deviceId: string; target: string }[] | undefined }): void {
    if (changes.name !== undefined) this.s.setName.run(changes.name, taskId);
    if (changes.executeAt !== undefined) this.s.setExecuteAt.run(changes.executeAt, taskId);
    if (changes.targets) {
      this.s.clearDevices.run(taskId);
      this.insertTargets(taskId, changes.targets);
    }
  }

  delete(taskId: string): void {
    this.s.del.run(taskId);
  }

  /** scheduled → executing; false if it was not scheduled (already started or deleted). */
  start(taskId: string, now: number): boolean {
    return this.s.start.run(now, taskId).changes === 1;
  }

  /** Done: the command is kept for the record with its secrets redacted. */
  finish(taskId: string, now: number): void {
    this.db.transaction(() => {
      this.s.finish.run(now, taskId);
      const raw = this.s.rawCommand.get(taskId);
      if (raw) this.s.setCommand.run(redactCommand(this.db, raw.command), taskId);
    })();
  }

  pending(taskId: string, afterSeq: number, limit: number): TaskDeviceRow[] {
    return this.s.pending.all(taskId, afterSeq, limit).map(this.openedDevice);
  }

  sending(taskId: string): TaskDeviceRow[] {
    return this.s.sending.all(taskId).map(this.openedDevice);
  }

  /** Recorded before a command leaves for the phone: after a crash this row says "may have arrived". */
  markSending(taskId: string, seq: number): void {
    this.s.markSending.run(taskId, seq);
  }

  markPending(taskId: string, seq: number): void {
    this.s.markPending.run(taskId, seq);
  }

  /** Returns false if the device already had a result (never report one twice). */
  markDone(taskId: string, seq: number, outcome: string, reason: string | null): boolean {
    return this.s.markDone.run(outcome, reason, taskId, seq).changes === 1;
  }

  totals(taskId: string): TaskCounts {
    return this.s.totals.get(taskId) ?? { total: 0, success: 0, failure: 0, notApplicable: 0, inProgress: 0 };
  }

  /** The newest tasks (unfinished first) with their devices counted per outcome. */
  recent(limit: number): TaskOverview[] {
    return this.s.recent.all(limit).map(({ command, ...row }) => ({ ...row, kind: this.commandKind(command) }));
  }

  /** The kind of a stored command, or '' when it cannot be read (a lost key, a damaged row). */
  private commandKind(stored: string): string {
    try {
      const parsed: unknown = JSON.parse(openCommand(this.db, stored));
      const kind = typeof parsed === 'object' && parsed !== null ? (parsed as { kind?: unknown }).kind : undefined;
      return typeof kind === 'string' ? kind : '';
    } catch {
      return '';
    }
  }

  counts(): { scheduled: number; running: number } {
    return this.s.counts.get() ?? { scheduled: 0, running: 0 };
  }

  /** Device commands of executing tasks not finished yet: the backlog. */
  openDevices(): number {
    return this.s.openDevices.get()?.n ?? 0;
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}

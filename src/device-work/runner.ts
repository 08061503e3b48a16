import { setTimeout as sleep } from 'node:timers/promises';
import type PQueue from 'p-queue';
import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../errors.js';
import type { DriverChoice } from '../devices/registry.js';
import { DeviceError } from '../devices/errors.js';
import { phoneKey, type PhoneLock } from '../devices/phone-lock.js';
import type { TaskRepo, TaskRow, TaskDeviceRow } from '../store/tasks.js';
import type { DeviceRepo } from '../store/devices.js';
import { commandSchema, NOT_REPEATABLE, type Command, type CommandKind } from '../devices/commands.js';
import type { InboundOf } from '../management-agent/frames.js';
import type { InboundHandlers } from '../management-agent/ports.js';
import { FrameRefused, type Outbox, type Registration } from '../core/ports.js';
import type { CommandExecutor, CommandResult } from './executor.js';
import { retryDelay, type RetryPolicy } from './retry.js';
import { SiteRule } from './site.js';
import { parseStoredTarget } from './stored-target.js';
import { relayMetrics } from '../metrics/relay-metrics.js';
import { timeouts } from '../core/timeouts.js';
import type { SpaceWatch } from '../store/space.js';

export interface TaskRunnerDeps {
  readonly tasks: TaskRepo;
  readonly devices: DeviceRepo;
  readonly outbox: Outbox;
  readonly executor: CommandExecutor;
  /** The driver for a vendor and kind, or why there is none (devices/registry.ts). */
  readonly chooseDriver: (vendor: string, kind: CommandKind) => DriverChoice;
  readonly queue: PQueue;
  readonly lock: PhoneLock;
  readonly registration: () => Registration | undefined;
  readonly clock: Clock;
  readonly log: Logger;
  readonly retry: RetryPolicy;
  /** Device commands waiting or running, across tasks, before new work is refused. */
  readonly backlog: number;
  /** Least time between two task.state frames of one running task. */
  readonly stateEveryMs?: number;
  /** A task that starts this much after executeAt reports its lateness. */
  readonly lateAfterMs?: number;
  /** The data disk: a result that does not fit waits for space instead of being lost. */
  readonly space?: SpaceWatch | undefined;
}

/** Longest single timer (setTimeout overflows past 2^31-1 ms); longer waits re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const PAGE = 500;

/**
 * Turns task frames into device commands: stores them in the handler's transaction, runs
 * them now or at executeAt (whatever the control channel is doing), fans them out through
 * the shared queue with one command at a time per phone, and reports each device's result
 * and the task's totals through the outbox. After a crash it finishes what was started
 * without repeating what must not be repeated.
 */
export class TaskRunner {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** When each armed task is due, by the wall clock. */
  private readonly armedAt = new Map<string, number>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly lastState = new Map<string, number>();
  private stopped = false;
  private wakeOnStop: (() => void)[] = [];
  /**
   * Frames can arrive before start() (the control channel starts first). Until then tasks are
   * only stored; start() recovers what a previous process left executing, then arms the rest,
   * so a task of this process is never mistaken for one interrupted by a crash.
   */
  private started = false;

  constructor(private readonly d: TaskRunnerDeps) {}

  handlers(): Pick<InboundHandlers, 'task.submit' | 'task.update' | 'task.delete'> {
    return {
      'task.submit': (f) => this.submit(f),
      'task.update': (f) => this.update(f),
      'task.delete': (f) => this.remove(f),
    };
  }

  /** Recovers after a restart and arms every scheduled task. */
  start(): void {
    this.started = true;
    const now = this.d.clock.now();
    for (const t of this.d.tasks.inState('executing')) this.recover(t);
    for (const t of this.d.tasks.inState('scheduled')) this.arm(t.taskId, t.executeAt ?? now);
  }

  async stop(deadlineMs?: number): Promise<void> {
    this.stopped = true;
    for (const wake of this.wakeOnStop.splice(0)) wake();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.armedAt.clear();
    const all = Promise.allSettled([...this.running.values()]);
    if (deadlineMs === undefined) await all;
    else await Promise.race([all, sleep(Math.max(0, deadlineMs - this.d.clock.now()), undefined, { ref: false })]);
  }

  // --- frame handlers: synchronous, inside the channel's store transaction ---

  private submit(f: InboundOf<'task.submit'>): void {
    if (this.d.tasks.get(f.taskId)) throw new FrameRefused(`task ${f.taskId} already exists; use task.update while it is scheduled`);
    const now = this.d.clock.now();
    const executeAt = f.executeAt ? Date.parse(f.executeAt) : null;
    if (executeAt === null || executeAt <= now) {
      const open = this.d.tasks.openDevices();
      if (open + f.targets.length > this.d.backlog)
        throw new FrameRefused(`relay backlog full: ${open} device commands waiting, ${f.targets.length} more would exceed devices.backlog=${this.d.backlog}; resubmit later`);
    }
    this.d.tasks.insert(
      { taskId: f.taskId, name: f.name, command: JSON.stringify(f.command), executeAt, expiresAt: f.expiresAt ? Date.parse(f.expiresAt) : null },
      f.targets.map((t) => ({ deviceId: t.deviceId, target: JSON.stringify(t) })),
      now,
    );
    for (const t of f.targets) this.d.devices.upsert({ deviceId: t.deviceId, mac: t.mac, ip: t.ip, target: JSON.stringify(t) }, now);
    this.d.outbox.enqueue('task.state', { taskId: f.taskId, state: 'scheduled', totals: this.d.tasks.totals(f.taskId) });
    // After the transaction commits: arming inside it would race a rollback.
    setImmediate(() => this.arm(f.taskId, executeAt ?? now));
  }

  private update(f: InboundOf<'task.update'>): void {
    const task = this.d.tasks.get(f.taskId);
    if (!task) throw new FrameRefused(`unknown taskId ${f.taskId}`);
    if (task.state !== 'scheduled') throw new FrameRefused(`task ${f.taskId} is ${task.state}: only a scheduled task can be updated`);
    const now = this.d.clock.now();
    const executeAt = f.executeAt ? Date.parse(f.executeAt) : undefined;
    this.d.tasks.update(f.taskId, { name: f.name, executeAt, targets: f.targets?.map((t) => ({ deviceId: t.deviceId, target: JSON.stringify(t) })) });
    for (const t of f.targets ?? []) this.d.devices.upsert({ deviceId: t.deviceId, mac: t.mac, ip: t.ip, target: JSON.stringify(t) }, now);
    this.d.outbox.enqueue('task.state', { taskId: f.taskId, state: 'scheduled', totals: this.d.tasks.totals(f.taskId) });
    const at = executeAt ?? task.executeAt ?? now;
    setImmediate(() => this.arm(f.taskId, at));
  }

  private remove(f: InboundOf<'task.delete'>): void {
    const task = this.d.tasks.get(f.taskId);
    if (!task) throw new FrameRefused(`unknown taskId ${f.taskId}`);
    if (task.state === 'executing' || this.running.has(f.taskId)) throw new FrameRefused(`task ${f.taskId} is executing and cannot be deleted; wait until it is done`);
    const totals = this.d.tasks.totals(f.taskId);
    this.d.tasks.delete(f.taskId);
    this.d.outbox.enqueue('task.state', { taskId: f.taskId, state: 'deleted', totals });
    const timer = this.timers.get(f.taskId);
    if (timer) clearTimeout(timer);
    this.timers.delete(f.taskId);
    this.armedAt.delete(f.taskId);
  }

  // --- scheduling ---

  private arm(taskId: string, at: number): void {
    if (this.stopped || !this.started) return;
    const old = this.timers.get(taskId);
    if (old) clearTimeout(old);
    const wait = at - this.d.clock.now();
    const timer = setTimeout(
      () => {
        this.timers.delete(taskId);
        this.armedAt.delete(taskId);
        // Timers run on the monotonic clock: after a step back the wall-clock time is not there yet.
        if (at - this.d.clock.now() > 0) this.arm(taskId, at);
        else this.launch(taskId);
      },
      Math.min(Math.max(0, wait), MAX_TIMER_MS),
    );
    this.timers.set(taskId, timer);
    this.armedAt.set(taskId, at);
  }

  /**
   * The wall clock stepped: every waiting task is re-armed for its wall-clock executeAt (a
   * step forward runs what is now due at once instead of an hour late; a step back waits).
   * Each task still starts once: start() moves it out of `scheduled` in one write.
   */
  clockStepped(): number {
    const due = [...this.armedAt];
    for (const [taskId, at] of due) this.arm(taskId, at);
    return due.length;
  }

  private launch(taskId: string): void {
    if (this.running.has(taskId) || this.stopped) return;
    const p = this.execute(taskId)
      .catch((err: unknown) => this.d.log.error({ taskId, err: errorMessage(err) }, 'task run failed; it resumes at the next start'))
      .finally(() => this.running.delete(taskId));
    this.running.set(taskId, p);
  }

  private recover(task: TaskRow): void {
    const cmd = storedCommand(task.command);
    const interrupted = this.d.tasks.sending(task.taskId);
    for (const row of interrupted) {
      if (!cmd.ok) {
        this.d.tasks.markPending(task.taskId, row.seq);
      } else if (NOT_REPEATABLE.has(cmd.command.kind)) {
        // Written now, not with the turn's batch: the task may be found done in this same turn.
        void this.finishDeviceNow(task.taskId, row, {
          outcome: 'failure',
          reason: `interrupted: the relay stopped while sending ${cmd.command.kind}; not repeated because it may have reached the phone`,
        });
      } else {
        this.d.tasks.markPending(task.taskId, row.seq);
      }
    }
    this.d.log.warn({ taskId: task.taskId, interrupted: interrupted.length, kind: cmd.ok ? cmd.command.kind : undefined }, 'resuming a task interrupted by a restart');
    this.launch(task.taskId);
  }

  // --- execution ---

  private async execute(taskId: string): Promise<void> {
    let task = this.d.tasks.get(taskId);
    if (!task) return;
    const now = this.d.clock.now();
    if (task.state === 'scheduled') {
      if (task.expiresAt !== null && now > task.expiresAt) return this.expire(task);
      const started = await this.durably('task start', () =>
        this.d.tasks.transaction(() => {
          if (!this.d.tasks.start(taskId, now)) return false;
          this.d.outbox.enqueue('task.state', { taskId, state: 'executing', executedAt: new Date(now).toISOString(), totals: this.d.tasks.totals(taskId) });
          return true;
        }),
      );
      if (started !== true) return;
      task = this.d.tasks.get(taskId);
      if (!task) return;
    }
    if (task.state !== 'executing') return;
    const stored = storedCommand(task.command);
    if (!stored.ok) {
      await this.durably('task end', () => this.endAll(task, stored.reason));
      return;
    }
    const cmd = stored.command;
    const late = task.executeAt !== null && task.startedAt !== null ? task.startedAt - task.executeAt : 0;
    const lateSeconds = late > (this.d.lateAfterMs ?? timeouts.taskLate.ms) ? Math.round(late / 1000) : undefined;
    if (lateSeconds !== undefined) this.d.log.warn({ taskId, lateSeconds }, 'task ran late: its time passed while the relay was down, or the system clock jumped forward');
    this.d.log.info({ taskId, kind: cmd.kind, devices: this.d.tasks.totals(taskId).total }, 'task executing');
    // Rows wait in the database, not in memory: only a few times the concurrency are queued
    // at once, so 50,000 devices cost what 256 do.
    const room = Math.max(16, Math.min(this.d.backlog, this.d.queue.concurrency * 4));
    let open = 0;
    let allFed = false;
    let finished!: () => void;
    const allDone = new Promise<void>((r) => (finished = r));
    let after = 0;
    for (;;) {
      const rows = this.d.tasks.pending(taskId, after, PAGE);
      if (rows.length === 0) break;
      for (const row of rows) {
        after = row.seq;
        if (this.d.queue.size >= room) await this.d.queue.onSizeLessThan(room);
        if (this.stopped) return;
        open++;
        void this.device(taskId, row, cmd, lateSeconds, 1).finally(() => {
          if (--open === 0 && allFed) finished();
        });
      }
    }
    allFed = true;
    if (open > 0) await allDone;
    if (this.stopped) return;
    const done = await this.durably('task done', () =>
      this.d.tasks.transaction(() => {
        this.d.tasks.finish(taskId, this.d.clock.now());
        const t = this.d.tasks.get(taskId);
        this.d.outbox.enqueue('task.state', {
          taskId,
          state: 'done',
          ...(t?.startedAt ? { executedAt: new Date(t.startedAt).toISOString() } : {}),
          totals: this.d.tasks.totals(taskId),
        });
        return true;
      }),
    );
    this.lastState.delete(taskId);
    if (done !== true) return;
    this.d.log.info({ taskId, kind: cmd.kind, totals: this.d.tasks.totals(taskId) }, 'task done');
  }

  private async expire(task: TaskRow): Promise<void> {
    const now = this.d.clock.now();
    await this.durably('task expiry', () =>
      this.d.tasks.transaction(() => {
        if (!this.d.tasks.start(task.taskId, now)) return;
        this.endAll(task, `expired: not started before expiresAt ${new Date(task.expiresAt ?? now).toISOString()}`);
      }),
    );
  }

  /** Every device not done yet fails with `reason`, and the task is done. */
  private endAll(task: TaskRow, reason: string): void {
    this.d.tasks.transaction(() => {
      for (let rows = this.d.tasks.pending(task.taskId, 0, PAGE); rows.length > 0; rows = this.d.tasks.pending(task.taskId, 0, PAGE)) {
        for (const row of rows) this.recordResult(task.taskId, row, { outcome: 'failure', reason });
      }
      this.d.tasks.finish(task.taskId, this.d.clock.now());
      this.d.outbox.enqueue('task.state', { taskId: task.taskId, state: 'done', totals: this.d.tasks.totals(task.taskId) });
    });
    this.lastState.delete(task.taskId);
    this.d.log.warn({ taskId: task.taskId, reason }, 'task ended without running');
  }

  private device(taskId: string, row: TaskDeviceRow, cmd: Command, lateSeconds: number | undefined, attempt: number): Promise<void> {
    return this.d.queue
      .add(() => this.attempt(taskId, row, cmd, attempt, lateSeconds))
      .then(async (retryIn) => {
        if (retryIn === undefined || this.stopped) return;
        await sleep(retryIn);
        if (!this.stopped) await this.device(taskId, row, cmd, lateSeconds, attempt + 1);
      })
      .then(
        () => undefined,
        (err: unknown) => this.d.log.error({ taskId, deviceId: row.deviceId, err: errorMessage(err) }, 'device command crashed'),
      );
  }

  /** One try; returns a delay when the device should be tried again, else records the result. */
  private async attempt(taskId: string, row: TaskDeviceRow, cmd: Command, attempt: number, lateSeconds: number | undefined): Promise<number | undefined> {
    if (this.stopped) return undefined;
    const parsed = parseStoredTarget(row.target);
    if (!parsed.ok) {
      await this.finishDevice(taskId, row, { outcome: 'failure', reason: parsed.reason });
      return undefined;
    }
    // Every device of every task asks: read without opening (decrypting) the task's command.
    const expiresAt = this.d.tasks.expiresAt(taskId) ?? null;
    const target = expiresAt !== null ? { ...parsed.target, expiresAt } : parsed.target;
    const reg = this.d.registration();
    const outside = this.site.refusal(reg?.site, target.ip);
    if (outside !== undefined) {
      await this.finishDevice(taskId, row, { outcome: 'not_applicable', reason: outside });
      return undefined;
    }
    // Decided before the phone is contacted: nothing is sent for a kind its driver cannot do.
    const choice = this.d.chooseDriver(target.vendor, cmd.kind);
    if (!choice.ok) {
      await this.finishDevice(taskId, row, { outcome: 'not_applicable', reason: choice.reason });
      return undefined;
    }
    const driver = choice.driver;
    return this.d.lock.run(phoneKey(target), async () => {
      // Only commands that must not run twice need the "may have reached the phone" mark;
      // any other command is simply run again after a crash (PROTOCOL §3).
      if (NOT_REPEATABLE.has(cmd.kind)) this.d.tasks.markSending(taskId, row.seq);
      const sentAt = performance.now();
      let result: CommandResult;
      try {
        result = await this.d.executor.run(driver, target, cmd, row.deviceId);
      } catch (err) {
        const delay = retryDelay(err, cmd.kind, attempt, this.d.retry);
        if (delay !== undefined) {
          this.d.log.debug({ taskId, deviceId: row.deviceId, attempt, delayMs: Math.round(delay), err: errorMessage(err) }, 'device command will be retried');
          this.d.tasks.markPending(taskId, row.seq);
          return delay;
        }
        result = toResult(err, attempt);
      }
      relayMetrics.deviceCommand(cmd.kind, result.outcome, (performance.now() - sentAt) / 1000);
      await this.finishDevice(taskId, row, lateSeconds === undefined ? result : withLateness(result, lateSeconds));
      return undefined;
    });
  }

  private readonly site = new SiteRule((invalid) => this.d.log.warn({ invalid }, 'site subnets from the DMS that are not CIDR ranges are ignored'));

  /**
   * Runs one store write; when the data disk is full it waits (the result held in memory) and
   * writes it once space is back, so a command that ran is never lost to a full disk. Stopping
   * gives up the wait: the row stays unfinished and the next start resumes it as after a crash
   * (repeatable commands run again, others end "interrupted").
   */
  private async durably<T>(what: string, write: () => T): Promise<T | undefined> {
    for (;;) {
      try {
        return write();
      } catch (err) {
        if (!this.d.space?.noteFailure(err, what)) throw err;
      }
      if (this.stopped) return undefined;
      const space = this.d.space;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.wakeOnStop = this.wakeOnStop.filter((w) => w !== wake);
          resolve();
        };
        this.wakeOnStop.push(wake);
        void space?.whenWritable().then(wake);
      });
      if (this.stopped) return undefined;
    }
  }

  /**
   * Results that came in during this turn of the event loop, written together in one
   * transaction at the end of it: one store commit for many devices instead of one each (a
   * commit costs more than the rows it writes). A device's queue slot is freed only once its
   * result is stored, and a crash before that leaves it unfinished, as a crash just before
   * its own write would.
   */
  private resultBatch: { taskId: string; row: TaskDeviceRow; result: CommandResult }[] = [];
  private resultBatchStored: Promise<void> | undefined;

  private async finishDeviceNow(taskId: string, row: TaskDeviceRow, result: CommandResult): Promise<void> {
    await this.durably('task result', () => this.d.tasks.transaction(() => this.recordResult(taskId, row, result)));
  }

  private finishDevice(taskId: string, row: TaskDeviceRow, result: CommandResult): Promise<void> {
    this.resultBatch.push({ taskId, row, result });
    this.resultBatchStored ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const batch = this.resultBatch;
        this.resultBatch = [];
        this.resultBatchStored = undefined;
        this.durably('task result', () =>
          this.d.tasks.transaction(() => {
            for (const b of batch) this.recordResult(b.taskId, b.row, b.result);
          }),
        ).then(() => resolve(), reject);
      });
    });
    return this.resultBatchStored;
  }

  /** The device's result and its outbox frame; the caller holds the transaction that keeps them together. */
  private recordResult(taskId: string, row: TaskDeviceRow, result: CommandResult): void {
    if (!this.d.tasks.markDone(taskId, row.seq, result.outcome, result.reason ?? null)) return;
    this.d.outbox.enqueue('task.result', {
      taskId,
      deviceId: row.deviceId,
      outcome: result.outcome,
      ...(result.reason ? { reason: result.reason } : {}),
      ...(result.data !== undefined ? { data: result.data } : {}),
    });
    const now = this.d.clock.now();
    if (now - (this.lastState.get(taskId) ?? 0) >= (this.d.stateEveryMs ?? timeouts.taskStateEvery.ms)) {
      this.lastState.set(taskId, now);
      const totals = this.d.tasks.totals(taskId);
      if (totals.inProgress > 0) this.d.outbox.enqueue('task.state', { taskId, state: 'executing', totals });
    }
  }
}

/** A stored command read back; one the store could not open (its key is gone) or no longer valid ends its task with the reason. */
function storedCommand(json: string): { ok: true; command: Command } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, reason: 'stored command is invalid: not JSON' };
  }
  const unreadable = (raw as { unreadable?: unknown } | null)?.unreadable;
  if (typeof unreadable === 'string') return { ok: false, reason: `stored command unusable: ${unreadable}` };
  const parsed = commandSchema.safeParse(raw);
  return parsed.success ? { ok: true, command: parsed.data } : { ok: false, reason: `stored command is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}` };
}

/** A task that ran late says so in every device's result (data.lateSeconds and the reason). */
function withLateness(r: CommandResult, lateSeconds: number): CommandResult {
  const note = `ran ${lateSeconds} s after executeAt (the relay was not running then, or the system clock jumped forward)`;
  return { ...r, reason: r.reason ? `${r.reason}; ${note}` : note, data: { ...(r.data ?? {}), lateSeconds } };
}

function toResult(err: unknown, attempt: number): CommandResult {
  if (err instanceof DeviceError) {
    if (err.code === 'NOT_SUPPORTED') return { outcome: 'not_applicable', reason: err.message };
    const tries = attempt > 1 ? ` (after ${attempt} attempts)` : '';
    return { outcome: 'failure', reason: `${err.message}${tries}` };
  }
  return { outcome: 'failure', reason: `internal error: ${errorMessage(err)}` };
}

import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../log.js';
import type { RolloutCounts, RolloutDeviceRow, RolloutPhase, RolloutRepo, RolloutRow, RolloutState, RolloutTotals } from '../../store/rollouts.js';
import { rolloutsDocument, type RolloutsDocument } from './view.js';
import { freeSlots, idleSince, nextStartAt, ratePerMinute, shouldAbort, type CallHistory } from './pacing.js';
import { policySchema, type RolloutPolicy } from './policy.js';
import { windowAt } from './windows.js';
import { timeouts } from '../../core/timeouts.js';

/**
 * Runs firmware rollouts (docs/protocol.md §7) on the relay's own clock, whether or not the
 * control channel is up. The store is the truth: every decision is written before it acts, so a
 * restart resumes where it stopped and a device that was mid-upgrade is verified, not triggered
 * again. The runner decides when; the `upgrade` port (a vendor driver under the per-phone lock)
 * does the work.
 */

export interface UpgradeImage {
  readonly imageId: string;
  readonly version: string;
}

export interface UpgradeResult {
  readonly outcome: 'success' | 'failure' | 'not_applicable';
  /** The phone already ran the image's version: nothing was done to it. */
  readonly alreadyCurrent?: boolean;
  readonly fromVersion?: string | undefined;
  readonly toVersion?: string | undefined;
  readonly reason?: string | undefined;
}

import type { RolloutResultBody, RolloutStateBody } from '../../core/outbound-frames.js';

export type { RolloutResultBody, RolloutStateBody } from '../../core/outbound-frames.js';

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface RolloutPorts {
  readonly repo: RolloutRepo;
  readonly clock: Clock;
  readonly log: Logger;
  /** The image's version, and whether the cache holds it verified. Undefined: not in the desired set. */
  image(imageId: string): { version: string; synced: boolean } | undefined;
  /** What the monitor and the phones' notifications say of the device's calls. */
  callState(deviceId: string): CallHistory;
  /** trigger: bring the phone to the image; verify: only read what it runs now (after a crash mid-upgrade). */
  upgrade(target: string, image: UpgradeImage, mode: 'trigger' | 'verify'): Promise<UpgradeResult>;
  /** Durable reports to the DMS; called inside the store transaction that records what they say. */
  readonly report: { state(body: RolloutStateBody): void; result(body: RolloutResultBody): void };
  readonly timers?: Timers;
  /** How long a phone seen in a call waits before its call state is asked again. */
  readonly idleRecheckMs?: number;
}

export interface RolloutSubmission {
  rolloutId: string;
  name: string;
  imageId: string;
  targets: readonly { deviceId: string }[];
  policy: RolloutPolicy;
}

/** A rollout frame that cannot be obeyed; the reason becomes the nack. */
export class RolloutRefused extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'RolloutRefused';
  }
}

/** While the image is not synced, how often to look again. */
const IMAGE_RECHECK_MS = 30_000;
/** `rollout.state` at most this often while only the totals change. */
const STATE_MIN_INTERVAL_MS = 10_000;
/** Even with nothing due, look again this often (call states and image sync change underneath). */
const IDLE_TICK_MS = 60_000;
const BATCH = 64;
const MIN_BATCH = 4;

const realTimers: Timers = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Sent {
  state: RolloutState;
  reason: string | null;
  totals: string;
  at: number;
}

export class RolloutRunner {
  private readonly timers: Timers;
  private readonly idleRecheckMs: number;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly sent = new Map<string, Sent>();
  private timer: unknown;
  private timerAt = Number.POSITIVE_INFINITY;
  private wakeAt = Number.POSITIVE_INFINITY;
  private ticking = false;
  private stopped = true;

  constructor(private readonly p: RolloutPorts) {
    this.timers = p.timers ?? realTimers;
    this.idleRecheckMs = p.idleRecheckMs ?? timeouts.rolloutIdleRecheck.ms;
  }

  // ---- frames (synchronous: they run inside the transaction that stores the frame) ----

  submit(s: RolloutSubmission): void {
    if (this.p.repo.get(s.rolloutId)) throw new RolloutRefused(`rollout ${s.rolloutId} exists already`);
    const targets = s.targets.map((t) => ({ deviceId: t.deviceId, target: JSON.stringify(t) }));
    this.p.repo.insert({ rolloutId: s.rolloutId, name: s.name, imageId: s.imageId, policy: JSON.stringify(s.policy) }, targets, this.p.clock.now());
    this.soon();
  }

  update(rolloutId: string, changes: { policy?: RolloutPolicy | undefined; targets?: readonly { deviceId: string }[] | undefined }): void {
    const r = this.open(rolloutId, 'updated');
    if (changes.policy) this.p.repo.setPolicy(r.rolloutId, JSON.stringify(changes.policy));
    if (changes.targets) {
      this.p.repo.removeUnstarted(r.rolloutId, new Set(changes.targets.map((t) => t.deviceId)));
      this.p.repo.addTargets(
        r.rolloutId,
        changes.targets.map((t) => ({ deviceId: t.deviceId, target: JSON.stringify(t) })),
      );
    }
    this.soon();
  }

  pause(rolloutId: string): void {
    const r = this.open(rolloutId, 'paused');
    if (r.state !== 'paused') this.p.repo.setState(r.rolloutId, 'paused', 'paused by the DMS; devices already upgrading finish');
    this.soon();
  }

  resume(rolloutId: string): void {
    const r = this.open(rolloutId, 'resumed');
    if (r.state === 'paused') this.p.repo.setState(r.rolloutId, 'waiting', null);
    this.soon();
  }

  cancel(rolloutId: string): void {
    const r = this.open(rolloutId, 'cancelled');
    this.endUnstarted(r, 'cancelled', 'cancelled by the DMS; devices already upgrading finish', 'not started: the rollout was cancelled');
    this.soon();
  }

  private open(rolloutId: string, verb: string): RolloutRow {
    const r = this.p.repo.get(rolloutId);
    if (!r) throw new RolloutRefused(`unknown rollout ${rolloutId}`);
    if (r.finishedAt !== null || r.state === 'aborted' || r.state === 'cancelled') throw new RolloutRefused(`rollout ${rolloutId} is ${r.state} and cannot be ${verb}`);
    return r;
  }

  // ---- lifecycle ----

  /** Resumes after a start: devices caught mid-upgrade are verified, never triggered again. */
  start(): void {
    this.stopped = false;
    for (const r of this.p.repo.active()) {
      for (const d of this.p.repo.running(r.rolloutId)) this.launch(r, d, 'verify');
    }
    this.soon();
  }

  /** Stops starting devices; resolves when those upgrading have reported. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    await this.idle();
  }

  /** Resolves when no device upgrade is in flight (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()]);
  }

  /** The newest rollouts with their totals, for the status document and the CLI. */
  summaries(limit: number): { rolloutId: string; name: string; imageId: string; state: RolloutState; reason: string | null; submittedAt: string; totals: RolloutTotals }[] {
    return this.p.repo.list(limit).map((r) => ({
      rolloutId: r.rolloutId,
      name: r.name,
      imageId: r.imageId,
      state: r.state,
      reason: r.reason,
      submittedAt: new Date(r.submittedAt).toISOString(),
      totals: this.p.repo.totals(r.rolloutId),
    }));
  }

  counts(): RolloutCounts {
    return this.p.repo.counts();
  }

  /** The `/rollouts` admin document. */
  view(): RolloutsDocument {
    return rolloutsDocument(this.p.repo, this.p.clock.now());
  }

  // ---- the decision loop ----

  /** Looks at every active rollout once and starts what may start now. Public for tests with a manual clock. */
  tick(): void {
    if (this.ticking) return;
    this.ticking = true;
    const now = this.p.clock.now();
    this.wakeAt = now + IDLE_TICK_MS;
    try {
      for (const r of this.p.repo.active()) {
        try {
          this.step(r, now);
        } catch (err) {
          this.p.log.error({ code: 'ROLLOUT_STEP_FAILED', rolloutId: r.rolloutId, err }, 'rollout step failed; it is tried again at the next tick');
        }
      }
    } finally {
      this.ticking = false;
    }
    this.arm(this.wakeAt);
  }

  private step(r: RolloutRow, now: number): void {
    const policy = policySchema.parse(JSON.parse(r.policy));
    let totals = this.p.repo.totals(r.rolloutId);
    const finished = totals.upgraded + totals.alreadyCurrent + totals.failed;
    const unstarted = this.p.repo.toStart(r.rolloutId);

    if (r.state === 'aborted' || r.state === 'cancelled' || r.state === 'paused') {
      this.closeIfIdle(r, totals, now);
      return;
    }
    if (shouldAbort(policy.abort, { finished, failed: totals.failed })) {
      const rule = policy.abort as NonNullable<RolloutPolicy['abort']>;
      const reason = `${totals.failed} of ${finished} devices failed (abort at ${rule.failurePercent} % after at least ${rule.minDevices}); devices already upgrading finish`;
      this.p.log.warn({ code: 'ROLLOUT_ABORTED', rolloutId: r.rolloutId, failed: totals.failed, finished }, 'rollout aborted: too many devices failed');
      this.endUnstarted(r, 'aborted', reason, 'not started: the rollout was aborted after too many failures');
      this.closeIfIdle(this.p.repo.get(r.rolloutId) ?? r, this.p.repo.totals(r.rolloutId), now);
      return;
    }
    if (unstarted === 0) {
      if (totals.inProgress === 0) this.setState(r, 'done', null, now);
      this.closeIfIdle(this.p.repo.get(r.rolloutId) ?? r, totals, now);
      return;
    }

    const image = this.p.image(r.imageId);
    if (!image?.synced) {
      this.setState(r, 'waiting', image ? 'image not synced' : `image ${r.imageId} is not in the relay's image set`, now);
      this.wake(now + IMAGE_RECHECK_MS);
      return;
    }
    const win = windowAt(policy.schedule, now, r.submittedAt);
    if (win.window === null) {
      this.endUnstarted(r, 'done', `the schedule has no window left; ${unstarted} devices were not started`, 'not started: the schedule has no window left');
      this.closeIfIdle(this.p.repo.get(r.rolloutId) ?? r, this.p.repo.totals(r.rolloutId), now);
      return;
    }
    if (!win.open) {
      this.setState(r, 'waiting', 'outside the update window', now, win.window.start);
      this.wake(win.window.start);
      return;
    }
    this.setState(r, 'running', null, now);
    this.wake(win.window.end);

    let slots = freeSlots(policy.maxConcurrent, totals.inProgress);
    const rate = ratePerMinute(policy, totals.upgraded + totals.alreadyCurrent);
    let last = r.lastStartAt;
    while (slots > 0) {
      const at = nextStartAt(last, rate, now);
      if (at > now) {
        this.wake(at);
        break;
      }
      // Only as many rows as may start (each row read opens a sealed password), at least a few to skip phones in a call.
      const limit = Math.min(BATCH, Math.max(slots, MIN_BATCH));
      const batch = this.p.repo.next(r.rolloutId, now, limit);
      if (batch.length === 0) break;
      let startedOne = false;
      for (const d of batch) {
        const idle = idleSince(this.p.callState(d.deviceId), policy.idleMinutes, now);
        if (!idle.eligible) {
          this.p.repo.markWaitingIdle(r.rolloutId, d.seq, idle.eligibleAt ?? now + this.idleRecheckMs);
          continue;
        }
        if (!this.p.repo.markRunning(r.rolloutId, d.seq, now)) continue;
        this.p.repo.setLastStart(r.rolloutId, now);
        last = now;
        slots--;
        startedOne = true;
        this.launch(r, d, 'trigger', image.version);
        // Re-ask the pacing after every start: with a rate, the next one is due later.
        if (rate !== null || slots === 0) break;
      }
      if (!startedOne && batch.length < limit) break;
    }
    const retry = this.p.repo.earliestRetry(r.rolloutId);
    if (retry !== null) this.wake(Math.max(retry, now + 1));
    totals = this.p.repo.totals(r.rolloutId);
    this.emitState(r.rolloutId, 'running', null, totals, now);
  }

  private launch(r: RolloutRow, d: RolloutDeviceRow, mode: 'trigger' | 'verify', version?: string): void {
    const key = `${r.rolloutId}\u0000${d.seq}`;
    if (this.inFlight.has(key)) return;
    const imageVersion = version ?? this.p.image(r.imageId)?.version ?? '';
    const job = (async () => {
      let res: UpgradeResult;
      try {
        res = await this.p.upgrade(d.target, { imageId: r.imageId, version: imageVersion }, mode);
      } catch (err) {
        res = { outcome: 'failure', reason: err instanceof Error ? err.message : String(err) };
      }
      this.record(r.rolloutId, d, res);
    })().finally(() => {
      this.inFlight.delete(key);
      this.soon();
    });
    this.inFlight.set(key, job);
  }

  private record(rolloutId: string, d: RolloutDeviceRow, res: UpgradeResult): void {
    const phase: RolloutPhase = res.outcome === 'success' ? (res.alreadyCurrent ? 'already_current' : 'upgraded') : res.outcome === 'failure' ? 'failed' : 'not_applicable';
    const reason = res.reason ?? (res.alreadyCurrent ? 'already current' : undefined);
    this.p.repo.transaction(() => {
      if (
        !this.p.repo.finishDevice(rolloutId, d.seq, phase, { fromVersion: res.fromVersion ?? null, toVersion: res.toVersion ?? null, reason: reason ?? null }, this.p.clock.now())
      )
        return;
      this.p.report.result({
        rolloutId,
        deviceId: d.deviceId,
        outcome: res.outcome,
        ...(res.fromVersion !== undefined ? { fromVersion: res.fromVersion } : {}),
        ...(res.toVersion !== undefined ? { toVersion: res.toVersion } : {}),
        ...(reason !== undefined ? { reason } : {}),
      });
    });
  }

  /** Ends every device not started yet with a result, and puts the rollout in `state`. */
  private endUnstarted(r: RolloutRow, state: RolloutState, reason: string, deviceReason: string): void {
    const now = this.p.clock.now();
    this.p.repo.transaction(() => {
      for (const d of this.p.repo.unstarted(r.rolloutId)) {
        if (this.p.repo.finishDevice(r.rolloutId, d.seq, 'not_started', { reason: deviceReason }, now)) {
          this.p.report.result({ rolloutId: r.rolloutId, deviceId: d.deviceId, outcome: 'failure', reason: deviceReason });
        }
      }
      this.p.repo.setState(r.rolloutId, state, reason);
      this.emitState(r.rolloutId, state, reason, this.p.repo.totals(r.rolloutId), now);
    });
  }

  /** A rollout that has nothing running and nothing left to start leaves the active list. */
  private closeIfIdle(r: RolloutRow, totals: RolloutTotals, now: number): void {
    const current = this.p.repo.get(r.rolloutId) ?? r;
    const over = current.state !== 'paused' && totals.inProgress === 0 && this.p.repo.toStart(r.rolloutId) === 0;
    // The last state of a rollout is always sent, however soon after the one before.
    this.emitState(r.rolloutId, current.state, current.reason, totals, now, undefined, over);
    if (over) this.p.repo.finish(r.rolloutId, now);
  }

  private setState(r: RolloutRow, state: RolloutState, reason: string | null, now: number, nextWindowAt?: number): void {
    const current = this.p.repo.get(r.rolloutId);
    if (current && (current.state !== state || current.reason !== reason)) this.p.repo.setState(r.rolloutId, state, reason);
    this.emitState(r.rolloutId, state, reason, this.p.repo.totals(r.rolloutId), now, nextWindowAt);
  }

  /** On every change of state; while only the totals move, at most every 10 s. */
  private emitState(rolloutId: string, state: RolloutState, reason: string | null, totals: RolloutTotals, now: number, nextWindowAt?: number, final = false): void {
    const key = JSON.stringify(totals);
    const last = this.sent.get(rolloutId);
    if (last && last.state === state && last.reason === reason && !(final && last.totals !== key)) {
      if (last.totals === key) return;
      if (now - last.at < STATE_MIN_INTERVAL_MS) {
        this.wake(last.at + STATE_MIN_INTERVAL_MS);
        return;
      }
    }
    this.sent.set(rolloutId, { state, reason, totals: key, at: now });
    this.p.report.state({
      rolloutId,
      state,
      ...(reason !== null ? { reason } : {}),
      ...(nextWindowAt !== undefined ? { nextWindowAt: new Date(nextWindowAt).toISOString() } : {}),
      totals,
    });
  }

  // ---- timers ----

  private wake(at: number): void {
    if (at < this.wakeAt) this.wakeAt = at;
  }

  /**
   * The wall clock stepped: the armed wake-up was computed from the old time, so look again
   * now (windows and pacing are computed from the clock on every tick; device states in the
   * store keep a step from starting a device twice).
   */
  clockStepped(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.soon();
  }

  /** Ticks as soon as the current work allows (coalesced). */
  private soon(): void {
    if (this.stopped) return;
    this.arm(this.p.clock.now());
  }

  private arm(at: number): void {
    if (this.stopped || at >= this.timerAt) return;
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timerAt = at;
    this.timer = this.timers.set(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.tick();
      },
      Math.max(0, at - this.p.clock.now()),
    );
  }
}

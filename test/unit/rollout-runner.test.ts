import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { RolloutRepo } from '../../src/store/rollouts.js';
import { createLogger } from '../../src/log.js';
import { policySchema } from '../../src/device-work/rollouts/policy.js';
import { RolloutRefused, RolloutRunner, type RolloutResultBody, type RolloutStateBody, type Timers, type UpgradeResult } from '../../src/device-work/rollouts/runner.js';
import type { CallHistory } from '../../src/device-work/rollouts/pacing.js';
import { ManualClock } from '../helpers/clock.js';
import { tempDir } from '../helpers/relay-config.js';

/**
 * The rollout runner against a real SQLite store, with a clock and timers the test moves by
 * hand and phones that answer when the test says so. What is asserted is what the DMS would
 * see: one result per device, the states, and how many phones were upgrading at once.
 */

const MIN = 60_000;
const noTimers: Timers = { set: () => undefined, clear: () => undefined };

interface Pending {
  deviceId: string;
  mode: 'trigger' | 'verify';
  resolve(r: UpgradeResult): void;
}

class World {
  readonly clock = new ManualClock(Date.parse('2026-12-07T12:00:00Z'));
  readonly states: RolloutStateBody[] = [];
  readonly results: RolloutResultBody[] = [];
  readonly calls = new Map<string, CallHistory>();
  readonly pending: Pending[] = [];
  readonly triggered: string[] = [];
  /** Targets exactly as the runner handed them to the driver port. */
  readonly targetsSeen: string[] = [];
  synced = true;
  maxInFlight = 0;
  runner!: RolloutRunner;

  constructor(readonly repo: RolloutRepo) {
    this.runner = this.newRunner();
  }

  newRunner(): RolloutRunner {
    return new RolloutRunner({
      repo: this.repo,
      clock: this.clock,
      log: createLogger('silent'),
      timers: noTimers,
      image: (id) => (id === 'img-1' ? { version: '6.4.0', synced: this.synced } : undefined),
      callState: (id) => this.calls.get(id) ?? { inCall: false, lastCallAt: null },
      upgrade: (target, _image, mode) =>
        new Promise<UpgradeResult>((resolve) => {
          this.targetsSeen.push(target);
          const deviceId = (JSON.parse(target) as { deviceId: string }).deviceId;
          if (mode === 'trigger') this.triggered.push(deviceId);
          this.pending.push({ deviceId, mode, resolve });
          this.maxInFlight = Math.max(this.maxInFlight, this.pending.length);
        }),
      report: { state: (b) => this.states.push(b), result: (b) => this.results.push(b) },
    });
  }

  /** Answers every phone upgrading now (success unless `fail` says otherwise), then lets the runner decide again. */
  async answerAll(fail: (deviceId: string) => boolean = () => false): Promise<number> {
    const batch = this.pending.splice(0);
    for (const p of batch)
      p.resolve(
        fail(p.deviceId)
          ? { outcome: 'failure', fromVersion: '6.3.0', toVersion: '6.3.0', reason: 'came back with 6.3.0' }
          : { outcome: 'success', fromVersion: '6.3.0', toVersion: '6.4.0' },
      );
    await this.runner.idle();
    this.runner.tick();
    return batch.length;
  }

  lastState(): RolloutStateBody | undefined {
    return this.states[this.states.length - 1];
  }
}

const targets = (n: number) => Array.from({ length: n }, (_, i) => ({ deviceId: `d${String(i + 1).padStart(4, '0')}`, mac: '0004f2000000', ip: '127.20.1.1', vendor: 'polycom' }));
const policy = (p: Record<string, unknown>) => policySchema.parse({ idleMinutes: 0, ...p });

describe('rollout runner', () => {
  let dir: string;
  let db: Db;
  let w: World;
  beforeEach(() => {
    dir = tempDir('cr-rollout-');
    db = openDb(join(dir, 'data'));
    w = new World(new RolloutRepo(db));
  });
  afterEach(async () => {
    for (const p of w.pending.splice(0)) p.resolve({ outcome: 'failure', reason: 'test over' });
    await w.runner.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('200 phones, maxConcurrent 20: never more than 20 at once, every device exactly one result, then done', async () => {
    w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: targets(200), policy: policy({ schedule: { kind: 'once' }, maxConcurrent: 20 }) });
    w.runner.start();
    w.runner.tick();
    expect(w.pending).toHaveLength(20);
    for (let i = 0; i < 20 && w.pending.length > 0; i++) await w.answerAll();
    expect(w.maxInFlight).toBe(20);
    expect(w.results).toHaveLength(200);
    expect(new Set(w.results.map((r) => r.deviceId)).size).toBe(200);
    expect(w.results.every((r) => r.outcome === 'success' && r.toVersion === '6.4.0')).toBe(true);
    expect(w.lastState()).toMatchObject({ state: 'done', totals: { total: 200, upgraded: 200, inProgress: 0, notStarted: 0 } });
    expect(w.repo.active()).toHaveLength(0);
  });

  it('waits outside the window and says when it opens; starts when it does', async () => {
    const p = policy({ schedule: { kind: 'daily', window: { start: '02:00', end: '04:00' }, timezone: 'UTC' } });
    w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: targets(3), policy: p });
    w.runner.start();
    w.runner.tick();
    expect(w.pending).toHaveLength(0);
    expect(w.lastState()).toMatchObject({ state: 'waiting', reason: 'outside the update window', nextWindowAt: '2026-12-08T02:00:00.000Z' });
    w.clock.advance(14 * 60 * MIN + 1);
    w.runner.tick();
    expect(w.pending).toHaveLength(3);
    expect(w.lastState()?.state).toBe('running');
  });

  it('waits while the image is not synced', () => {
    w.synced = false;
    w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: targets(2), policy: policy({ schedule: { kind: 'once' } }) });
    w.runner.start();
    w.runner.tick();
    expect(w.pending).toHaveLength(0);
    expect(w.lastState()).toMatchObject({ state: 'waiting', reason: 'image not synced' });
    w.synced = true;
    w.runner.tick();
    expect(w.pending).toHaveLength(2);
  });

  it('a phone in a call is skipped, then upgraded only after idleMinutes without a call', async () => {
    w.calls.set('d0001', { inCall: true, lastCallAt: w.clock.now() });
    w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: targets(3), policy: policy({ schedule: { kind: 'once' }, idleMinutes: 30 }) });
    w.runner.start();
    w.runner.tick();
    expect(w.pending.map((p) => p.deviceId)).toEqual(['d0002', 'd0003']);
    await w.answerAll();
    expect(w.repo.totals('r1')).toMatchObject({ upgraded: 2, waitingIdle: 1 });
    // The call ends; 29 minutes later the phone is still not idle long enough.
    w.clock.advance(MIN);
    w.calls.set('d0001', { inCall: false, lastCallAt: w.clock.now() });
    w.clock.advance(29 * MIN);
    w.runner.tick();
    expect(w.pending).toHaveLength(0);
    w.clock.advance(MIN);
    w.runner.tick();
    expect(w.pending.map((p) => p.deviceId)).toEqual(['d0001']);
    await w.answerAll();
    expect(w.lastState()).toMatchObject({ state: 'done', totals: { upgraded: 3, waitingIdle: 0 } });
  });

  it('maxPerMinute spaces the starts', () => {
    w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: targets(10), policy: policy({ schedule: { kind: 'once' }, maxPerMinute: 6 }) });
    w.runner.start();
    w.runner.tick();
    expect(w.pending).toHaveLength(1);
    w.clock.advance(9_999);
    w.runner.tick();
    expect(w.pending).toHaveLength(1);
    w.clock.advance(1);
    w.runner.tick();
    expect(w.pending).toHaveLength(2);
  });

  it('aborts at 20 % failures: nothing new starts, running devices finish, the rest end not started', async () => {
    w.runner.submit({
      rolloutId: 'r1',
      name: 'fw',
      imageId: 'img-1',
      targets: targets(100),
      policy: policy({ schedule: { kind: 'once' }, maxConcurrent: 10, abort: { failurePercent: 20, minDevices: 10 } }),
    });
    w.runner.start();
    w.runner.tick();
    // Of the first ten, three fail: 30 % ≥ 20 % after 10 finished.
    await w.answerAll((id) => ['d0001', 'd0002', 'd0003'].includes(id));
    expect(w.pending).toHaveLength(0);
    const st = w.lastState();
    expect(st).toMatchObject({ state: 'aborted', totals: { total: 100, upgraded: 7, failed: 3, notStarted: 90 } });
    expect(st?.reason).toContain('3 of 10 devices failed');
    expect(w.results).toHaveLength(100);
    expect(w.results.filter((r) => r.reason === 'not started: the rollout was aborted after too many failures')).toHaveLength(90);
    expect(w.repo.active()).toHaveLength(0);
  });

  it('a restart mid-rollout verifies devices that were upgrading and triggers nothing twice', async () => {
    w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: targets(30), policy: policy({ schedule: { kind: 'once' }, maxConcurrent: 10 }) });
    w.runner.start();
    w.runner.tick();
    await w.answerAll();
    expect(w.triggered).toHaveLength(20);
    // Crash: ten phones were told to upgrade and never answered this process.
    w.pending.splice(0);
    w.runner = w.newRunner();
    w.runner.start();
    expect(w.pending.map((p) => p.mode)).toEqual(Array(10).fill('verify'));
    for (let i = 0; i < 5 && w.pending.length > 0; i++) await w.answerAll();
    expect(w.results).toHaveLength(30);
    expect(new Set(w.results.map((r) => r.deviceId)).size).toBe(30);
    expect(new Set(w.triggered).size).toBe(w.triggered.length);
    expect(w.triggered).toHaveLength(30 - 10 + 10); // 20 before the crash, 10 after; the 10 verified were not triggered again
    expect(w.lastState()?.state).toBe('done');
  });

  it('pause lets running devices finish and starts nothing; resume carries on; cancel ends the rest', async () => {
    w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: targets(6), policy: policy({ schedule: { kind: 'once' }, maxConcurrent: 2 }) });
    w.runner.start();
    w.runner.tick();
    w.runner.pause('r1');
    await w.answerAll();
    expect(w.pending).toHaveLength(0);
    expect(w.lastState()).toMatchObject({ state: 'paused', totals: { upgraded: 2 } });
    w.runner.resume('r1');
    w.runner.tick();
    expect(w.pending).toHaveLength(2);
    w.runner.cancel('r1');
    await w.answerAll();
    expect(w.results).toHaveLength(6);
    expect(w.lastState()).toMatchObject({ state: 'cancelled', totals: { upgraded: 4, notStarted: 2 } });
    expect(() => w.runner.resume('r1')).toThrow(RolloutRefused);
  });

  it('refuses a duplicate id and frames for unknown rollouts', () => {
    w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: targets(1), policy: policy({ schedule: { kind: 'once' } }) });
    expect(() => w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: targets(1), policy: policy({ schedule: { kind: 'once' } }) })).toThrow(/exists already/);
    expect(() => w.runner.pause('nope')).toThrow(/unknown rollout nope/);
  });

  it('update adds targets and drops unstarted ones; a started device stays and reports', async () => {
    const all = targets(5);
    w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: all.slice(0, 4), policy: policy({ schedule: { kind: 'once' }, maxConcurrent: 1 }) });
    w.runner.start();
    w.runner.tick();
    expect(w.pending.map((p) => p.deviceId)).toEqual(['d0001']);
    w.runner.update('r1', { targets: [all[1], all[4]] as typeof all });
    for (let i = 0; i < 10 && w.pending.length > 0; i++) await w.answerAll();
    expect(w.results.map((r) => r.deviceId)).toEqual(['d0001', 'd0002', 'd0005']);
    expect(w.lastState()).toMatchObject({ state: 'done', totals: { total: 3, upgraded: 3 } });
  });
  it('keeps a target password sealed in the store, hands it to the driver opened, and blanks it once the device has its result', async () => {
    const secret = 'Rollout-Secret-4417';
    const target = { ...targets(1)[0]!, credentials: { user: 'Polycom', password: secret } };
    w.runner.submit({ rolloutId: 'r1', name: 'fw', imageId: 'img-1', targets: [target], policy: policy({ schedule: { kind: 'once' } }) });
    const raw = () => String((db.prepare('SELECT target FROM rollout_devices').get() as { target: string }).target);
    expect(raw()).not.toContain(secret);
    w.runner.start();
    w.runner.tick();
    await w.answerAll();
    expect(JSON.parse(w.targetsSeen[0] ?? '{}')).toMatchObject({ credentials: { password: secret } });
    expect(JSON.parse(raw())).toMatchObject({ credentials: { user: 'Polycom', password: '' } });
  });
});

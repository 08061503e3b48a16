import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { RolloutRepo } from '../../src/store/rollouts.js';
import { tempDir } from '../helpers/relay-config.js';

/** The per-phase counts the triggers keep agree with counting the device rows, through every kind of write. */
describe('rollout phase counts', () => {
  let dir: string;
  let db: Db;
  beforeEach(() => {
    dir = tempDir('cr-rollout-counts-');
    db = openDb(join(dir, 'data'));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const recount = (rolloutId: string) =>
    Object.fromEntries(
      db
        .prepare<[string], { phase: string; n: number }>('SELECT phase, COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? GROUP BY phase')
        .all(rolloutId)
        .map((r) => [r.phase, r.n]),
    );
  const kept = (rolloutId: string) =>
    Object.fromEntries(
      db
        .prepare<[string], { phase: string; n: number }>('SELECT phase, n FROM rollout_phase_counts WHERE rollout_id = ? AND n > 0')
        .all(rolloutId)
        .map((r) => [r.phase, r.n]),
    );

  it('insert, start, wait for idle, finish, re-target and delete keep the counts equal to a recount', () => {
    const repo = new RolloutRepo(db);
    const t = (id: string) => ({ deviceId: id, target: JSON.stringify({ deviceId: id }) });
    repo.insert({ rolloutId: 'r1', name: 'r', imageId: 'i', policy: '{}' }, ['a', 'b', 'c', 'd', 'e', 'f'].map(t), 1);
    repo.insert({ rolloutId: 'r2', name: 'r', imageId: 'i', policy: '{}' }, ['a', 'b'].map(t), 1);
    expect(repo.markRunning('r1', 1, 2)).toBe(true);
    expect(repo.markRunning('r1', 1, 2)).toBe(false);
    repo.markRunning('r1', 2, 2);
    repo.markWaitingIdle('r1', 3, 99);
    repo.finishDevice('r1', 1, 'upgraded', {}, 3);
    repo.finishDevice('r1', 1, 'failed', {}, 3); // already final: no change
    repo.finishDevice('r1', 2, 'failed', {}, 3);
    repo.removeUnstarted('r1', new Set(['a', 'b', 'c', 'd']));
    repo.addTargets('r1', ['d', 'g'].map(t));
    expect(kept('r1')).toEqual(recount('r1'));
    expect(kept('r2')).toEqual(recount('r2'));
    expect(repo.totals('r1')).toEqual({ total: 5, upgraded: 1, alreadyCurrent: 0, inProgress: 0, waitingIdle: 1, failed: 1, notApplicable: 0, notStarted: 2 });
    expect(repo.toStart('r1')).toBe(3);
    expect(repo.counts()).toEqual({ active: 2, devicesUpgrading: 0, devicesWaitingIdle: 1 });
    db.prepare("DELETE FROM rollouts WHERE rollout_id = 'r2'").run();
    expect(kept('r2')).toEqual({});
    expect(db.prepare("SELECT COUNT(*) FROM rollout_phase_counts WHERE rollout_id = 'r2'").pluck().get()).toBe(0);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Statement } from 'better-sqlite3';
import { openDb, type Db } from '../../src/store/db.js';
import { RolloutRepo } from '../../src/store/rollouts.js';
import { tempDir } from '../helpers/relay-config.js';

/** "Which devices start next": due phones first, then pending ones in order, read from indexes without sorting the rollout. */
describe('rollout next devices', () => {
  let dir: string;
  let db: Db;
  beforeEach(() => {
    dir = tempDir('cr-rollout-next-');
    db = openDb(join(dir, 'data'));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const t = (id: string) => ({ deviceId: id, target: JSON.stringify({ deviceId: id }) });

  it('gives phones whose idle recheck is due first (earliest first), then pending phones in submission order', () => {
    const repo = new RolloutRepo(db);
    repo.insert(
      { rolloutId: 'r', name: 'r', imageId: 'i', policy: '{}' },
      Array.from({ length: 2_000 }, (_, i) => t(`d${i + 1}`)),
      1,
    );
    repo.transaction(() => {
      for (let seq = 1; seq <= 1_500; seq++) {
        repo.markRunning('r', seq, 2);
        repo.finishDevice('r', seq, 'upgraded', {}, 3);
      }
    });
    repo.markWaitingIdle('r', 1_503, 50); // due, later than 1_505
    repo.markWaitingIdle('r', 1_505, 40); // due first
    repo.markWaitingIdle('r', 1_501, 500); // not due yet
    expect(repo.next('r', 100, 6).map((d) => d.seq)).toEqual([1_505, 1_503, 1_502, 1_504, 1_506, 1_507]);
    expect(repo.next('r', 100, 1).map((d) => d.seq)).toEqual([1_505]);
    expect(repo.next('r', 600, 2).map((d) => d.seq)).toEqual([1_505, 1_503]);
    expect(repo.next('r', 600, 4).map((d) => d.seq)).toEqual([1_505, 1_503, 1_501, 1_502]);
    // A started phone is no longer offered.
    repo.markRunning('r', 1_502, 100);
    expect(repo.next('r', 100, 3).map((d) => d.seq)).toEqual([1_505, 1_503, 1_504]);
  });

  it('reads the next devices from indexes in order, never sorting all not-started rows', () => {
    const repo = new RolloutRepo(db);
    const statements = (repo as unknown as { s: Record<string, Statement> }).s;
    for (const [name, args] of [
      ['nextDue', ['r', 0, 8]],
      ['nextPending', ['r', 8]],
    ] as const) {
      const plan = db
        .prepare(`EXPLAIN QUERY PLAN ${statements[name]?.source ?? ''}`)
        .all(...args)
        .map((r) => (r as { detail: string }).detail)
        .join(' | ');
      expect(plan, name).toMatch(/USING (COVERING )?INDEX rollout_devices_(next|pending)/);
      expect(plan, name).not.toMatch(/TEMP B-TREE/);
    }
  });
});

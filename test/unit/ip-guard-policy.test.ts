import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { openDb, type Db } from '../../src/store/db.js';
import { IpGuardStore } from '../../src/store/ip-guard.js';
import { IpGuard, stateOf } from '../../src/http/ip-guard.js';
import { createLogger } from '../../src/log.js';
import { ManualClock } from '../helpers/clock.js';
import { tempDir } from '../helpers/relay-config.js';

const POLICY = { maxFailures: 3, windowSeconds: 60, banSeconds: 100, blacklistAfterBans: 3 };

describe('IP guard policy (real store, manual clock)', () => {
  let dir: string;
  let db: Db;
  let store: IpGuardStore;
  let clock: ManualClock;
  let guard: IpGuard;

  beforeEach(() => {
    dir = tempDir('ipguard-');
    db = openDb(dir);
    store = new IpGuardStore(db);
    clock = new ManualClock(1_800_000_000_000);
    guard = new IpGuard(store, POLICY, clock, createLogger('silent'));
    guard.load();
  });

  afterEach(() => {
    guard.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const fail = (ip: string, n: number) => {
    for (let i = 0; i < n; i++) guard.recordFailure(ip, '401 /x.cfg');
  };

  it('bans after maxFailures inside the window, and the ban ends on time', () => {
    fail('127.20.9.1', 2);
    expect(guard.check('127.20.9.1').allowed).toBe(true);
    fail('127.20.9.1', 1);
    expect(guard.check('127.20.9.1')).toEqual({ allowed: false, state: 'banned', until: clock.now() + 100_000 });
    clock.advance(100_001);
    expect(guard.check('127.20.9.1').allowed).toBe(true);
  });

  it('forgets failures outside the window', () => {
    fail('127.20.9.2', 2);
    clock.advance(61_000);
    fail('127.20.9.2', 2);
    expect(guard.check('127.20.9.2').allowed).toBe(true);
    expect(store.get('127.20.9.2')!.failures).toBe(2);
  });

  it('doubles the ban on each repeat and blacklists after blacklistAfterBans', () => {
    fail('127.20.9.3', 3);
    expect(store.get('127.20.9.3')!.bannedUntil).toBe(clock.now() + 100_000);
    clock.advance(100_001);
    fail('127.20.9.3', 3);
    expect(store.get('127.20.9.3')!.bannedUntil).toBe(clock.now() + 200_000);
    clock.advance(200_001);
    fail('127.20.9.3', 3);
    expect(guard.check('127.20.9.3')).toMatchObject({ allowed: false, state: 'blacklisted' });
    clock.advance(365 * 86_400_000);
    expect(guard.check('127.20.9.3')).toMatchObject({ allowed: false, state: 'blacklisted' });
  });

  it('never bans a whitelisted IP', () => {
    guard.recordSuccess('127.20.9.4');
    fail('127.20.9.4', 50);
    expect(guard.check('127.20.9.4').allowed).toBe(true);
    expect(stateOf(store.get('127.20.9.4'), clock.now())).toBe('whitelisted');
  });

  it('sees an unban written to the database by another connection (the CLI)', () => {
    fail('127.20.9.5', 3);
    expect(guard.check('127.20.9.5').allowed).toBe(false);
    const cli = openDb(dir);
    expect(new IpGuardStore(cli).unban('127.20.9.5')).toBe(true);
    cli.close();
    expect(guard.check('127.20.9.5').allowed).toBe(true);
  });

  it('keeps its state across a restart', () => {
    fail('127.20.9.6', 3);
    guard.recordSuccess('127.20.9.7');
    const again = new IpGuard(store, POLICY, clock, createLogger('silent'));
    again.load();
    expect(again.check('127.20.9.6').allowed).toBe(false);
    again.recordFailure('127.20.9.7', '404 /x');
    expect(store.get('127.20.9.7')!.failures).toBe(0);
    again.stop();
  });
});

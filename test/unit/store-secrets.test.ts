import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { SecretBox, SecretsError, keySource, loadKey, type KeyRecord } from '../../src/store/secret-box.js';
import { forgetSecrets, sealLegacySecrets, secretsOf } from '../../src/store/secrets.js';
import { InboundRepository } from '../../src/store/inbound.js';
import { TaskRepo } from '../../src/store/tasks.js';
import { DeviceRepo } from '../../src/store/devices.js';
import { RolloutRepo } from '../../src/store/rollouts.js';
import { parseStoredTarget } from '../../src/device-work/stored-target.js';
import { tempDir } from '../helpers/relay-config.js';

const memoryRecord = (): KeyRecord & { m: Map<string, string> } => {
  const m = new Map<string, string>();
  return { m, get: (k) => m.get(k), set: (k, v) => void m.set(k, v) };
};

const target = (password: string) =>
  JSON.stringify({ deviceId: 'd1', mac: '0004f2000001', ip: '127.20.0.1', vendor: 'polycom', model: 'VVX', credentials: { user: 'Polycom', password } });

describe('secret box and key file', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('cr-secretbox-');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('seals with AES-256-GCM: round trip, fresh IV per seal, tampering and another key refused with SECRETS_UNREADABLE', () => {
    const box = new SecretBox(randomBytes(32));
    const a = box.seal('hunter2');
    expect(a).not.toContain('hunter2');
    expect(box.seal('hunter2')).not.toBe(a);
    expect(box.open(a)).toBe('hunter2');
    const flipped = a.slice(0, -4) + (a.slice(-4, -3) === 'A' ? 'B' : 'A') + a.slice(-3);
    expect(() => box.open(flipped)).toThrow(expect.objectContaining({ code: 'SECRETS_UNREADABLE' }));
    expect(() => new SecretBox(randomBytes(32)).open(a)).toThrow(/no longer has/);
  });

  it('creates the key 0600 next to the data dir on first use, and reads it back', () => {
    const src = keySource(join(dir, 'data'), undefined, {});
    expect(src).toEqual({ path: join(dir, 'data-keys', 'secrets.key'), kind: 'default' });
    const rec = memoryRecord();
    const key = loadKey(src, rec, { create: true });
    expect(statSync(src.path).mode & 0o777).toBe(0o600);
    expect(loadKey(src, rec, { create: true }).equals(key)).toBe(true);
    expect(rec.m.get('secrets.keyId')).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a systemd credential wins over the setting; hex, base64 and raw keys are accepted; anything else is SECRETS_KEY_INVALID', () => {
    const creds = join(dir, 'creds');
    mkdirSync(creds);
    const key = randomBytes(32);
    writeFileSync(join(creds, 'secrets-key'), key.toString('hex'));
    const src = keySource(join(dir, 'data'), join(dir, 'other.key'), { CREDENTIALS_DIRECTORY: creds });
    expect(src.kind).toBe('systemd-credential');
    expect(loadKey(src, memoryRecord(), { create: true }).equals(key)).toBe(true);
    writeFileSync(join(creds, 'secrets-key'), key);
    expect(loadKey(src, memoryRecord(), { create: true }).equals(key)).toBe(true);
    writeFileSync(join(creds, 'secrets-key'), 'too short');
    expect(() => loadKey(src, memoryRecord(), { create: true })).toThrow(expect.objectContaining({ code: 'SECRETS_KEY_INVALID' }));
    expect(keySource(join(dir, 'data'), join(dir, 'other.key'), {}).kind).toBe('setting');
  });

  it('a lost or swapped key is a catalogued error naming the file and the way out, never a fresh key', () => {
    const src = keySource(join(dir, 'data'), undefined, {});
    const rec = memoryRecord();
    loadKey(src, rec, { create: true });
    rmSync(src.path);
    const missing = (() => {
      try {
        loadKey(src, rec, { create: true });
      } catch (err) {
        return err;
      }
    })();
    expect(missing).toBeInstanceOf(SecretsError);
    expect(missing).toMatchObject({ code: 'SECRETS_KEY_MISSING', message: expect.stringContaining(src.path) });
    expect((missing as Error).message).toMatch(/forget-secrets/);
    writeFileSync(src.path, randomBytes(32).toString('base64'));
    chmodSync(src.path, 0o644);
    expect(() => loadKey(src, rec, { create: true })).toThrow(expect.objectContaining({ code: 'SECRETS_KEY_MISMATCH' }));
    expect(statSync(src.path).mode & 0o777).toBe(0o600);
  });
});

describe('stored secrets', () => {
  let dir: string;
  let db: Db;
  beforeEach(() => {
    dir = tempDir('cr-stored-secrets-');
    db = openDb(join(dir, 'data'));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('inbound frames: the record is redacted; the sealed copy exists only while pending and opens whole', () => {
    const repo = new InboundRepository(db);
    const frame = JSON.stringify({ v: 1, id: 'c1', type: 'cert.install', ts: new Date().toISOString(), pfx: 'UEZYYnl0ZXM=', passphrase: 'pfx-pass-123' });
    repo.insert('c1', 'cert.install', frame, 'pending', null, 1);
    const raw = () => db.prepare<[], { frame: string; sealed: string | null }>("SELECT frame, sealed FROM inbound_frames WHERE id = 'c1'").get()!;
    expect(raw().frame).not.toContain('pfx-pass-123');
    expect(raw().frame).not.toContain('UEZYYnl0ZXM=');
    expect(raw().sealed).toMatch(/^sealed:v1:/);
    expect(repo.pending()[0]!.frame).toBe(frame);
    repo.setState('c1', 'done', null);
    expect(raw().sealed).toBeNull();
    // setParams values are secrets too (reg.1.auth.password …)
    const task = JSON.stringify({
      v: 1,
      id: 't1',
      type: 'task.submit',
      taskId: 'x',
      command: { kind: 'setParams', args: { values: { 'reg.1.auth.password': 'sip-pw' } } },
      targets: [JSON.parse(target('dev-pw')) as unknown],
    });
    repo.insert('t1', 'task.submit', task, 'refused', 'no', 1);
    expect(repo.get('t1')!.frame).not.toMatch(/sip-pw|dev-pw/);
    expect(repo.get('t1')!.frame).toContain('reg.1.auth.password');
  });

  it('task rows: passwords sealed, opened on read, dropped when the device is done; the command redacted when the task is done', () => {
    const tasks = new TaskRepo(db);
    tasks.insert(
      { taskId: 't', name: 'n', command: JSON.stringify({ kind: 'adPassword', args: { password: 'ad-pw-1' } }), executeAt: null, expiresAt: null },
      [{ deviceId: 'd1', target: target('dev-pw-1') }],
      1,
    );
    const rawCmd = () => db.prepare("SELECT command FROM tasks WHERE task_id = 't'").pluck().get() as string;
    const rawTarget = () => db.prepare("SELECT target FROM task_devices WHERE task_id = 't'").pluck().get() as string;
    expect(rawCmd()).not.toContain('ad-pw-1');
    expect(rawTarget()).not.toContain('dev-pw-1');
    expect(JSON.parse(tasks.get('t')!.command)).toEqual({ kind: 'adPassword', args: { password: 'ad-pw-1' } });
    expect(JSON.parse(tasks.pending('t', 0, 10)[0]!.target).credentials.password).toBe('dev-pw-1');
    tasks.markDone('t', 1, 'success', null);
    expect(JSON.parse(rawTarget()).credentials).toEqual({ user: 'Polycom', password: '' });
    tasks.finish('t', 2);
    expect(JSON.parse(rawCmd())).toEqual({ kind: 'adPassword', args: { password: '[redacted]' } });
  });

  it('device rows keep the password sealed for polls; a row sealed with a forgotten key reads as unreadable, not as a wrong password', () => {
    const devices = new DeviceRepo(db);
    devices.upsert({ deviceId: 'd1', mac: '00:04:f2:00:00:01', ip: '127.20.0.1', target: target('poll-pw') }, 1);
    expect(db.prepare('SELECT target FROM devices').pluck().get()).not.toContain('poll-pw');
    expect(JSON.parse(devices.get('d1')!.target).credentials.password).toBe('poll-pw');
    const keyFile = keySource(join(dir, 'data'), undefined, {}).path;
    db.close();
    rmSync(keyFile);
    db = openDb(join(dir, 'data'));
    expect(() => secretsOf(db)).toThrow(expect.objectContaining({ code: 'SECRETS_KEY_MISSING' }));
    forgetSecrets(db);
    db.close();
    db = openDb(join(dir, 'data'));
    secretsOf(db);
    expect(JSON.parse(new DeviceRepo(db).get('d1')!.target).credentials.unreadable).toMatch(/^SECRETS_UNREADABLE/);
  });

  it('forget-secrets blanks the sealed password of rollout devices not finished: no ciphertext of the lost key is left, the device fails SECRETS_UNREADABLE', () => {
    const rollouts = new RolloutRepo(db);
    rollouts.insert({ rolloutId: 'r1', name: 'r', imageId: 'img', policy: '{}' }, [{ deviceId: 'd1', target: target('rollout-pw') }], 1);
    const raw = () => db.prepare('SELECT target FROM rollout_devices').pluck().get() as string;
    const sealed = JSON.parse(raw()).credentials.password as string;
    expect(sealed).not.toContain('rollout-pw');
    const keyFile = keySource(join(dir, 'data'), undefined, {}).path;
    db.close();
    rmSync(keyFile);
    db = openDb(join(dir, 'data'));
    expect(forgetSecrets(db)).toMatchObject({ rolloutDevices: 1 });
    expect(raw()).not.toContain(sealed);
    db.close();
    db = openDb(join(dir, 'data'));
    secretsOf(db);
    const [row] = new RolloutRepo(db).next('r1', 2, 10);
    expect(parseStoredTarget(row!.target)).toEqual({ ok: false, reason: expect.stringMatching(/^stored device password unusable: SECRETS_UNREADABLE: the secrets key was lost/) });
  });

  it('rows from an older relay are sealed (or dropped when done) once at start', () => {
    db.prepare("INSERT INTO devices (device_id, mac, ip, target, updated_at) VALUES ('d1', 'm', '127.20.0.1', ?, 1)").run(target('legacy-pw'));
    db.prepare("INSERT INTO inbound_frames (id, type, frame, state, received_at) VALUES ('f', 'task.submit', ?, 'done', 1)").run(
      JSON.stringify({ targets: [JSON.parse(target('legacy-pw')) as unknown] }),
    );
    expect(sealLegacySecrets(db).rows).toBe(2);
    const file = readFileSync(join(dir, 'data', 'relay.db')).toString('latin1') + readFileSync(join(dir, 'data', 'relay.db-wal')).toString('latin1');
    expect(db.prepare('SELECT target FROM devices').pluck().get()).not.toContain('legacy-pw');
    db.pragma('wal_checkpoint(TRUNCATE)');
    const after = readFileSync(join(dir, 'data', 'relay.db')).toString('latin1');
    expect(after).not.toContain('legacy-pw');
    expect(file.length).toBeGreaterThan(0);
    expect(sealLegacySecrets(db).rows).toBe(0);
  });
});

import type { Db } from './db-handle.js';
import { KvStore } from './kv.js';
import { SecretBox, SecretsError, forgetKeyId, isSealed, loadKey, type KeySource } from './secret-box.js';
import { errorCode, errorMessage } from '../errors.js';

/**
 * Which secrets the store keeps, and in what form:
 * - task rows: the command sealed whole (adPassword, setParams values) until the task is done,
 *   then kept with its arguments redacted; each device's password sealed until that device
 *   has its result, then dropped;
 * - device rows: the password sealed for as long as the phone is polled;
 * - inbound frames: a redacted copy as the record, plus a sealed copy only while the frame
 *   waits to be (re)dispatched.
 * The key is opened on first use, not at open time, so CLI commands that never touch a
 * secret (ip, devices list) work without it.
 */

interface Entry {
  readonly source: KeySource;
  readonly create: boolean;
  box?: SecretBox;
}

const registry = new WeakMap<Db, Entry>();

export function registerSecrets(db: Db, source: KeySource, create: boolean): void {
  registry.set(db, { source, create });
}

/** The box for this database's secrets; throws a SecretsError (catalogued, exit 78 at start) if the key is unusable. */
export function secretsOf(db: Db): SecretBox {
  const e = registry.get(db);
  if (!e) throw new SecretsError('SECRETS_KEY_UNUSABLE', 'the database was opened without a secrets key location');
  if (!e.box) e.box = new SecretBox(loadKey(e.source, new KvStore(db), { create: e.create }));
  return e.box;
}

export function keySourceOf(db: Db): KeySource | undefined {
  return registry.get(db)?.source;
}

export const REDACTED = '[redacted]';
const SECRET_KEYS = new Set(['password', 'passphrase', 'pfx']);

/**
 * A frame as it may be kept for the record: passwords, passphrases, PFX bytes and every
 * setParams value (parameter names like reg.1.auth.password carry secrets) replaced.
 */
export function redactFrame(value: unknown, parentKey = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => redactFrame(v, parentKey));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (SECRET_KEYS.has(k) && typeof v === 'string') out[k] = REDACTED;
    else if (k === 'values' && parentKey === 'args' && typeof v === 'object' && v !== null) out[k] = Object.fromEntries(Object.keys(v).map((n) => [n, REDACTED]));
    else out[k] = redactFrame(v, k);
  }
  return out;
}

type TargetJson = { credentials?: { user?: unknown; password?: unknown; unreadable?: unknown } } & Record<string, unknown>;

/** A target as stored: its password sealed. */
export function sealTarget(db: Db, json: string): string {
  const t = JSON.parse(json) as TargetJson;
  const pw = t.credentials?.password;
  if (typeof pw !== 'string' || pw === '' || isSealed(pw)) return json;
  return JSON.stringify({ ...t, credentials: { ...t.credentials, password: secretsOf(db).seal(pw) } });
}

/**
 * A stored target with its password opened. If it cannot be opened (key replaced via
 * `db forget-secrets`, damaged value) the credentials say why instead, so the command fails
 * with that reason rather than sending a wrong password to the phone.
 */
export function openTarget(db: Db, json: string): string {
  let t: TargetJson;
  try {
    t = JSON.parse(json) as TargetJson;
  } catch {
    return json;
  }
  const pw = t.credentials?.password;
  if (typeof pw !== 'string' || !isSealed(pw)) return json;
  try {
    return JSON.stringify({ ...t, credentials: { ...t.credentials, password: secretsOf(db).open(pw) } });
  } catch (err) {
    return JSON.stringify({ ...t, credentials: { user: t.credentials?.user, unreadable: `${errorCode(err) ?? 'SECRETS_UNREADABLE'}: ${errorMessage(err)}` } });
  }
}

/** Once a device has its result its password has no further use in that row. */
export function dropTargetSecret(json: string): string {
  try {
    const t = JSON.parse(json) as TargetJson;
    if (!t.credentials || typeof t.credentials.password !== 'string' || t.credentials.password === '') return json;
    return JSON.stringify({ ...t, credentials: { ...t.credentials, password: '' } });
  } catch {
    return json;
  }
}

export function sealCommand(db: Db, json: string): string {
  return secretsOf(db).seal(json);
}

/** Throws SECRETS_UNREADABLE when the command's key is gone. */
export function openCommand(db: Db, stored: string): string {
  return isSealed(stored) ? secretsOf(db).open(stored) : stored;
}

/** A finished command as kept for the record: kind and non-secret arguments only. */
export function redactCommand(db: Db, stored: string): string {
  try {
    return JSON.stringify(redactFrame(JSON.parse(openCommand(db, stored))));
  } catch {
    return JSON.stringify({ redacted: true });
  }
}

/**
 * Rows written by a relay from before secrets were sealed: seal or drop their cleartext once.
 * secure_delete (set by openDb) zeroes the pages the old values were on.
 */
export function sealLegacySecrets(db: Db): { rows: number } {
  const kv = new KvStore(db);
  if (kv.get('secrets.legacySealed') === '1') return { rows: 0 };
  let rows = 0;
  db.transaction(() => {
    const tasks = db.prepare<[], { taskId: string; command: string; state: string }>('SELECT task_id AS taskId, command, state FROM tasks').all();
    const setCmd = db.prepare('UPDATE tasks SET command = ? WHERE task_id = ?');
    for (const t of tasks) {
      if (isSealed(t.command)) continue;
      setCmd.run(t.state === 'done' ? redactCommand(db, t.command) : sealCommand(db, t.command), t.taskId);
      rows++;
    }
    const devs = db.prepare<[], { taskId: string; seq: number; target: string; state: string }>('SELECT task_id AS taskId, seq, target, state FROM task_devices').all();
    const setDev = db.prepare('UPDATE task_devices SET target = ? WHERE task_id = ? AND seq = ?');
    for (const d of devs) {
      const next = d.state === 'done' ? dropTargetSecret(d.target) : sealTarget(db, d.target);
      if (next !== d.target) {
        setDev.run(next, d.taskId, d.seq);
        rows++;
      }
    }
    const phones = db.prepare<[], { deviceId: string; target: string }>('SELECT device_id AS deviceId, target FROM devices').all();
    const setPhone = db.prepare('UPDATE devices SET target = ? WHERE device_id = ?');
    for (const p of phones) {
      const next = sealTarget(db, p.target);
      if (next !== p.target) {
        setPhone.run(next, p.deviceId);
        rows++;
      }
    }
    const frames = db.prepare<[], { id: string; frame: string; state: string; sealed: string | null }>('SELECT id, frame, state, sealed FROM inbound_frames').all();
    const setFrame = db.prepare('UPDATE inbound_frames SET frame = ?, sealed = ? WHERE id = ?');
    for (const f of frames) {
      let redacted: string;
      try {
        redacted = JSON.stringify(redactFrame(JSON.parse(f.frame)));
      } catch {
        continue;
      }
      if (redacted === f.frame) continue;
      setFrame.run(redacted, f.sealed ?? (f.state === 'pending' ? secretsOf(db).seal(f.frame) : null), f.id);
      rows++;
    }
    kv.set('secrets.legacySealed', '1');
  })();
  return { rows };
}

/** What a target's credentials say once their sealed password went with a forgotten key. */
const FORGOTTEN = 'SECRETS_UNREADABLE: the secrets key was lost (cloud-relay db forget-secrets); the DMS must send this device again';

/**
 * The admin's way out when the key is lost for good: the database forgets which key sealed
 * its secrets (the next start creates a new key), frames waiting with a sealed copy are
 * refused, and rollout devices not finished lose their sealed password (the ciphertext of a
 * lost key is of no use; such a device fails with SECRETS_UNREADABLE instead of being tried).
 * Sealed passwords left in other rows fail their command with SECRETS_UNREADABLE when read.
 */
export function forgetSecrets(db: Db): { frames: number; rolloutDevices: number } {
  return db.transaction(() => {
    forgetKeyId(new KvStore(db));
    const frames = db
      .prepare("UPDATE inbound_frames SET state = 'refused', reason = ?, sealed = NULL WHERE sealed IS NOT NULL")
      .run('SECRETS_UNREADABLE: the secrets key was lost; the frame cannot be run again').changes;
    let rolloutDevices = 0;
    const rows = db
      .prepare<[], { rolloutId: string; seq: number; target: string }>(
        "SELECT rollout_id AS rolloutId, seq, target FROM rollout_devices WHERE json_valid(target) AND json_extract(target, '$.credentials.password') <> ''",
      )
      .all();
    const set = db.prepare('UPDATE rollout_devices SET target = ? WHERE rollout_id = ? AND seq = ?');
    for (const r of rows) {
      const t = JSON.parse(r.target) as TargetJson;
      if (typeof t.credentials?.password !== 'string' || !isSealed(t.credentials.password)) continue;
      set.run(JSON.stringify({ ...t, credentials: { user: t.credentials.user, unreadable: FORGOTTEN } }), r.rolloutId, r.seq);
      rolloutDevices++;
    }
    return { frames, rolloutDevices };
  })();
}

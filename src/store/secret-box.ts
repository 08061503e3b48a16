import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { StoreError, errorMessage } from '../errors.js';

/**
 * Device passwords and other secrets that must outlive a frame are sealed with AES-256-GCM
 * under a key that never enters the database: a copy of relay.db (a backup, a support
 * bundle, a stolen disk image of the data dir alone) then holds no usable secret.
 */

/** Name of the systemd credential (LoadCredential=secrets-key:…) that wins over any key file. */
export const SYSTEMD_CREDENTIAL = 'secrets-key';
const PREFIX = 'sealed:v1:';
const AAD = Buffer.from('cloud-relay secret v1');
const KEY_ID_KV = 'secrets.keyId';

export type SecretsCode = 'SECRETS_KEY_MISSING' | 'SECRETS_KEY_MISMATCH' | 'SECRETS_KEY_INVALID' | 'SECRETS_KEY_UNUSABLE' | 'SECRETS_UNREADABLE';

/** The key cannot be used; exit 78 at start, because only an admin can restore or replace it. */
export class SecretsError extends StoreError {
  constructor(code: SecretsCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export interface KeySource {
  readonly path: string;
  readonly kind: 'systemd-credential' | 'setting' | 'default';
}

/**
 * Where the key lives: a systemd credential when the unit passes one, else the configured
 * file, else `<dataDir>-keys/secrets.key` next to (never inside) the data directory.
 */
export function keySource(dataDir: string, keyFile: string | undefined, env: NodeJS.ProcessEnv = process.env): KeySource {
  const credDir = env.CREDENTIALS_DIRECTORY;
  if (credDir && existsSync(join(credDir, SYSTEMD_CREDENTIAL))) return { path: join(credDir, SYSTEMD_CREDENTIAL), kind: 'systemd-credential' };
  if (keyFile) return { path: keyFile, kind: 'setting' };
  return { path: defaultKeyFile(dataDir), kind: 'default' };
}

export function defaultKeyFile(dataDir: string): string {
  return join(dirname(dataDir), `${basename(dataDir)}-keys`, 'secrets.key');
}

export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update('cloud-relay secrets key id\0').update(key).digest('hex').slice(0, 16);
}

/** Accepts 32 raw bytes, or 32 bytes as base64 or hex text (what `systemd-creds` or an admin would write). */
export function parseKey(data: Buffer, path: string): Buffer {
  if (data.length === 32) return data;
  const text = data.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64');
  throw new SecretsError('SECRETS_KEY_INVALID', `secrets key file ${path} does not hold a 256-bit key (32 bytes raw, base64 or hex); restore the right file`);
}

export interface KeyRecord {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

/**
 * Loads the key, creating it on first use. A database that already holds sealed secrets
 * never gets a fresh key silently: the admin must restore the old one or run
 * `cloud-relay db forget-secrets`.
 */
export function loadKey(source: KeySource, record: KeyRecord, options: { create: boolean }): Buffer {
  const known = record.get(KEY_ID_KV);
  let key: Buffer;
  if (!existsSync(source.path)) {
    if (known !== undefined) {
      throw new SecretsError(
        'SECRETS_KEY_MISSING',
        `secrets key file ${source.path} is missing, but the database holds device passwords sealed with key ${known}: ` +
          'restore that file from your backup (mode 0600), or run `cloud-relay db forget-secrets` to drop the sealed secrets ' +
          '(tasks waiting for them then fail, and phones are polled again once the DMS names them in a task)',
      );
    }
    if (!options.create || source.kind === 'systemd-credential') {
      throw new SecretsError('SECRETS_KEY_MISSING', `secrets key file ${source.path} is missing`);
    }
    key = randomBytes(32);
    try {
      mkdirSync(dirname(source.path), { recursive: true, mode: 0o700 });
      const fd = openSync(source.path, 'wx', 0o600);
      try {
        writeSync(fd, `${key.toString('base64')}\n`);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      throw new SecretsError(
        'SECRETS_KEY_UNUSABLE',
        `cannot create the secrets key file ${source.path}: ${errorMessage(err)}; set secretsKeyFile to a writable path outside the data directory`,
        { cause: err },
      );
    }
  } else {
    try {
      if (source.kind !== 'systemd-credential' && (statSync(source.path).mode & 0o077) !== 0) chmodSync(source.path, 0o600);
      key = parseKey(readFileSync(source.path), source.path);
    } catch (err) {
      if (err instanceof SecretsError) throw err;
      throw new SecretsError('SECRETS_KEY_UNUSABLE', `cannot read the secrets key file ${source.path}: ${errorMessage(err)}`, { cause: err });
    }
  }
  const id = keyIdOf(key);
  if (known !== undefined && known !== id) {
    throw new SecretsError(
      'SECRETS_KEY_MISMATCH',
      `secrets key file ${source.path} holds key ${id}, but the database's secrets are sealed with key ${known}: ` +
        'put the original key file back, or run `cloud-relay db forget-secrets` to drop the sealed secrets',
    );
  }
  if (known === undefined) record.set(KEY_ID_KV, id);
  return key;
}

/** Forgets which key sealed the stored secrets, so the next start may create a new one. */
export function forgetKeyId(record: { delete(key: string): void }): void {
  record.delete(KEY_ID_KV);
}

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

export class SecretBox {
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    this.keyId = keyIdOf(key);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(AAD);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return `${PREFIX}${this.keyId}:${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')}`;
  }

  /** Throws SECRETS_UNREADABLE for another key's or a damaged value. */
  open(sealed: string): string {
    if (!isSealed(sealed)) throw new SecretsError('SECRETS_UNREADABLE', 'stored secret is not sealed');
    const rest = sealed.slice(PREFIX.length);
    const colon = rest.indexOf(':');
    const id = rest.slice(0, colon);
    if (colon < 0 || id !== this.keyId) throw new SecretsError('SECRETS_UNREADABLE', `stored secret was sealed with key ${id || '?'}, which this relay no longer has`);
    const raw = Buffer.from(rest.slice(colon + 1), 'base64');
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      d.setAAD(AAD);
      d.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    } catch (err) {
      throw new SecretsError('SECRETS_UNREADABLE', 'stored secret is damaged (authentication failed)', { cause: err });
    }
  }
}

import { chmodSync, chownSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * Certificate material kept in `<dataDir>/tls/` (0700 dir, 0600 files). The PFX and its
 * passphrase are one JSON document written by rename, so a reader (the daemon's watcher,
 * a restart) never sees a new PFX with an old passphrase.
 */
export const INSTALLED_FILE = 'installed-pfx.json';
const SELF_SIGNED_FILE = 'self-signed.json';

const installedSchema = z.object({
  pfx: z.base64(),
  passphrase: z.string(),
  installedAt: z.string(),
  origin: z.enum(['dms', 'cli']),
});
export type InstalledPfx = z.infer<typeof installedSchema>;

const selfSignedSchema = z.object({ fqdn: z.string(), keyPem: z.string(), certPem: z.string() });
export type StoredSelfSigned = z.infer<typeof selfSignedSchema>;

export function tlsDir(dataDir: string): string {
  return join(dataDir, 'tls');
}

function writePrivate(dataDir: string, name: string, body: string): void {
  const dir = tlsDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  writeFileSync(tmp, body, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  // Run as root (`sudo cloud-relay cert install`), hand the file to the data dir's owner,
  // the service user, or the daemon could not read it.
  if (process.getuid?.() === 0) {
    const owner = statSync(dataDir);
    chownSync(tmp, owner.uid, owner.gid);
  }
  renameSync(tmp, join(dir, name));
}

function readJson<T>(file: string, schema: z.ZodType<T>): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

export function installedPath(dataDir: string): string {
  return join(tlsDir(dataDir), INSTALLED_FILE);
}

export function readInstalled(dataDir: string): InstalledPfx | undefined {
  return readJson(installedPath(dataDir), installedSchema);
}

export function writeInstalled(dataDir: string, entry: InstalledPfx): void {
  writePrivate(dataDir, INSTALLED_FILE, JSON.stringify(entry));
}

export function readSelfSigned(dataDir: string): StoredSelfSigned | undefined {
  return readJson(join(tlsDir(dataDir), SELF_SIGNED_FILE), selfSignedSchema);
}

export function writeSelfSigned(dataDir: string, entry: StoredSelfSigned): void {
  writePrivate(dataDir, SELF_SIGNED_FILE, JSON.stringify(entry));
}

export function mtimeMs(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

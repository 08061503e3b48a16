import { mkdirSync, readdirSync } from 'node:fs';
import { open, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const SHA256 = /^[a-f0-9]{64}$/;

/**
 * Disk layout of the cache: `objects/<sha256>` complete verified objects, `partial/` fills
 * in progress (`<sha256>.part` for objects whose hash is known in advance, so a restart can
 * resume them; `p-<uuid>.part` for on-demand fills, dropped at start-up).
 */
export class ObjectStore {
  readonly objectsDir: string;
  readonly partialDir: string;

  constructor(readonly dir: string) {
    this.objectsDir = join(dir, 'objects');
    this.partialDir = join(dir, 'partial');
  }

  init(): void {
    mkdirSync(this.objectsDir, { recursive: true, mode: 0o750 });
    mkdirSync(this.partialDir, { recursive: true, mode: 0o750 });
  }

  objectPath(sha256: string): string {
    return join(this.objectsDir, sha256);
  }

  resumablePartial(sha256: string): string {
    return join(this.partialDir, `${sha256}.part`);
  }

  transientPartial(id: string): string {
    return join(this.partialDir, `p-${id}.part`);
  }

  objectNames(): string[] {
    return readdirSync(this.objectsDir).filter((n) => SHA256.test(n));
  }

  partialNames(): string[] {
    return readdirSync(this.partialDir);
  }

  async removeObject(sha256: string): Promise<void> {
    await rm(this.objectPath(sha256), { force: true });
  }

  async removePartialFile(name: string): Promise<void> {
    await unlink(join(this.partialDir, name)).catch(() => undefined);
  }

  /** Makes a rename into objects/ durable. */
  async syncObjectsDir(): Promise<void> {
    const fh = await open(this.objectsDir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

export function isSha256(s: string): boolean {
  return SHA256.test(s);
}

import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileSource, SERVE_CHUNK } from '../../src/cache/byte-source.js';

describe('shared chunks of complete files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cr-shared-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('two transfers of one file get the same chunk; a file replaced under the same name never gets the old one', async () => {
    const path = join(dir, 'obj');
    writeFileSync(path, Buffer.alloc(SERVE_CHUNK + 100, 1));
    const a = fileSource(path);
    const b = fileSource(path);
    const [a0, b0] = await Promise.all([a.readShared!(0), b.readShared!(0)]);
    expect(a0).toBe(b0);
    expect(a0.length).toBe(SERVE_CHUNK);
    const tail = await b.readShared!(SERVE_CHUNK);
    expect(tail.length).toBe(100);
    expect((await a.readShared!(2 * SERVE_CHUNK)).length).toBe(0);
    a.close();
    b.close();

    // A new file renamed over the old one (how a re-fetched object lands): new inode, new chunks.
    writeFileSync(join(dir, 'next'), Buffer.alloc(SERVE_CHUNK + 100, 2));
    renameSync(join(dir, 'next'), path);
    const c = fileSource(path);
    const c0 = await c.readShared!(0);
    expect(c0).not.toBe(a0);
    expect(c0[0]).toBe(2);
    c.close();
  });
});

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { DmsImages } from '../../sim/dms/images.js';
import { spawnRelay, type RelayProcess } from '../helpers/child.js';
import { tempDir, writeRelayConfig } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';

const MB = 1024 * 1024;
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('image download resume across a relay SIGKILL', () => {
  it('a download killed past 60 % resumes with Range after restart and ends with one correct file', async () => {
    const size = 4 * MB;
    const dms = new DmsImages({ images: [{ imageId: 'big', size }], bytesPerSecond: 2 * MB });
    const sim: DmsSimulator = await startDmsSimulator({});
    cleanups.push(() => sim.close());
    sim.addRoutes(dms.routes);
    const dir = tempDir('cr-resume-');
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = join(dir, 'data');
    const configFile = writeRelayConfig(dir, { dmsUrl: sim.url, caPem: sim.caPem, dataDir, extra: { logLevel: 'info' } });
    const sha = dms.sha256('big');
    const partial = join(dataDir, 'cache', 'partial', `${sha}.part`);
    const object = join(dataDir, 'cache', 'objects', sha);

    const first: RelayProcess = spawnRelay(configFile);
    cleanups.push(() => first.kill('SIGKILL'));
    await waitFor(() => existsSync(partial) && statSync(partial).size >= size * 0.6, { timeoutMs: 20_000, message: 'partial file past 60 %' });
    first.kill('SIGKILL');
    const exit = await first.exited;
    expect(exit.signal).toBe('SIGKILL');
    const kept = statSync(partial).size;
    expect(kept).toBeGreaterThanOrEqual(size * 0.6);
    expect(kept).toBeLessThan(size);
    expect(existsSync(object)).toBe(false);

    dms.setBandwidth(undefined);
    const rangesBefore = dms.requests.ranges.length;
    const second = spawnRelay(configFile);
    cleanups.push(() => second.kill('SIGKILL'));
    const admin = await second.adminUrl();
    await waitFor(
      async () => {
        const doc = (await (await fetch(`${admin}/images`)).json()) as { images: { imageId: string; state: string }[] };
        return doc.images.find((i) => i.imageId === 'big' && i.state === 'synced');
      },
      { timeoutMs: 20_000, message: 'image synced after restart' },
    );
    // Resumed from where the killed process left it (it may have written a little more before dying).
    const resumedAt = dms.requests.ranges.slice(rangesBefore).map((r) => Number(/^bytes=(\d+)-$/.exec(r)?.[1] ?? -1));
    expect(resumedAt.length).toBe(1);
    expect(resumedAt[0]).toBeGreaterThanOrEqual(size * 0.6);
    expect(createHash('sha256').update(readFileSync(object)).digest('hex')).toBe(sha);
    expect(existsSync(partial)).toBe(false);
    expect(dms.fileRequests('big')).toBe(2);
    second.kill('SIGTERM');
    await second.exited;
  }, 120_000);
});

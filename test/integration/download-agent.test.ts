import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DmsImages } from '../../sim/dms/images.js';
import { ImagesRepo } from '../../src/store/images.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { spawnCli } from '../helpers/child.js';
import { waitFor } from '../helpers/wait.js';

const MB = 1024 * 1024;
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function relayWith(dms: DmsImages, heartbeatIntervalSeconds = 120): Promise<{ h: Harness; relayId: string }> {
  const harness = await startHarness({ startRelay: false, sim: { heartbeatIntervalSeconds } });
  h = harness;
  harness.sim.addRoutes(dms.routes);
  await harness.startRelay();
  const relayId = await harness.connected();
  return { h: harness, relayId };
}

function statuses(harness: Harness, relayId: string): { imageId: string; state: string; bytes: number; reason?: string }[] {
  return harness.sim.received(relayId, 'image.status').map((f) => f.frame as unknown as { imageId: string; state: string; bytes: number; reason?: string });
}

describe('download agent against the DMS simulator', () => {
  it('syncs the desired set at start-up, verifies each object and reports image.status through the outbox', async () => {
    const dms = new DmsImages({
      images: [
        { imageId: 'a', size: 2 * MB },
        { imageId: 'b', size: 1 * MB + 3 },
      ],
      bytesPerSecond: 8 * MB,
    });
    const { h, relayId } = await relayWith(dms);
    await waitFor(() => h.daemon.statusDocument().images.synced === 2, { timeoutMs: 15_000, message: 'both images synced' });
    for (const id of ['a', 'b']) {
      const file = join(h.config.cacheDir, 'objects', dms.sha256(id));
      expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(dms.sha256(id));
    }
    await waitFor(() => statuses(h, relayId).filter((s) => s.state === 'synced').length === 2, { message: 'synced frames reached the DMS' });
    const a = statuses(h, relayId).filter((s) => s.imageId === 'a');
    expect(a[0]).toMatchObject({ state: 'syncing' });
    expect(a.at(-1)).toMatchObject({ state: 'synced', bytes: 2 * MB });
    expect(h.daemon.statusDocument().cache.objects).toBe(2);
    // The admin view `cloud-relay images` reads.
    const view = (await (await fetch(`${h.adminUrl()}/images`)).json()) as { images: { imageId: string; state: string; bytes: number }[] };
    expect(view.images.map((i) => [i.imageId, i.state, i.bytes])).toEqual([
      ['a', 'synced', 2 * MB],
      ['b', 'synced', MB + 3],
    ]);
    // `cloud-relay images` prints it; --follow ends by itself once nothing is syncing.
    const admin = h.adminUrl().replace('http://', '');
    for (const args of [
      ['images', '--admin', admin],
      ['images', '--admin', admin, '--follow'],
    ]) {
      const cli = spawnCli(undefined, { args });
      const exit = await cli.exited;
      expect(exit.code).toBe(0);
      const out = cli.stdout.join('\n');
      expect(out).toMatch(/^a\s+6\.4\.0\s+synced\s+2\.0 MiB\s+100%/m);
      expect(out).toMatch(/^b\s+6\.4\.0\s+synced/m);
    }
  });

  it('enforces the image limit with image.status failed and a reason; images.sync, resync-images and leaving the set', async () => {
    const dms = new DmsImages({
      images: [
        { imageId: 'x', size: 64 * 1024 },
        { imageId: 'y', size: 64 * 1024 },
        { imageId: 'z', size: 64 * 1024 },
      ],
      maxImages: 2,
    });
    const { h, relayId } = await relayWith(dms, 1);
    await waitFor(() => statuses(h, relayId).find((s) => s.imageId === 'z' && s.state === 'failed'), { message: 'z rejected' });
    const z = statuses(h, relayId).find((s) => s.imageId === 'z');
    expect(z?.reason).toMatch(/limit of 2 images/);
    await waitFor(() => h.daemon.statusDocument().images.synced === 2, { message: 'x and y synced' });
    expect(dms.fileRequests('z')).toBe(0);

    // images.sync: the new set replaces the old; y leaves the set and is unpinned.
    const catalogueBefore = dms.requests.catalogue;
    dms.setImages([
      { imageId: 'x', size: 64 * 1024 },
      { imageId: 'w', size: 128 * 1024 },
    ]);
    h.sim.sendFrame(relayId, { type: 'images.sync' });
    await waitFor(() => statuses(h, relayId).find((s) => s.imageId === 'w' && s.state === 'synced'), { message: 'w synced after images.sync' });
    expect(dms.requests.catalogue).toBeGreaterThan(catalogueBefore);
    const repo = new ImagesRepo(h.daemon.store);
    expect(repo.list().map((i) => i.imageId)).toEqual(['x', 'w']);
    expect(repo.isPinned(dms.sha256('x'))).toBe(true);
    // y's object stays cached but unpinned (evictable).
    expect(h.daemon.statusDocument().cache.objects).toBe(3);

    // Heartbeat action resync-images triggers another catalogue fetch.
    const beforeHb = dms.requests.catalogue;
    h.sim.queueAction(relayId, 'resync-images');
    await waitFor(() => dms.requests.catalogue > beforeHb, { timeoutMs: 15_000, message: 'catalogue fetched after resync-images' });
  });

  it('a download that keeps failing reports failed with the reason, and a corrupt image is never marked synced', async () => {
    const dms = new DmsImages({ images: [{ imageId: 'c', size: 256 * 1024 }] });
    dms.setFault('c', { corruptAtByte: 1000 });
    const { h, relayId } = await relayWith(dms);
    await waitFor(() => statuses(h, relayId).find((s) => s.imageId === 'c' && s.state === 'failed'), { message: 'c failed' });
    expect(statuses(h, relayId).find((s) => s.state === 'failed')?.reason).toMatch(/sha256 mismatch/);
    expect(h.daemon.statusDocument().images).toMatchObject({ synced: 0, failed: 1 });
    dms.setFault('c', undefined);
    h.sim.sendFrame(relayId, { type: 'images.sync' });
    await waitFor(() => statuses(h, relayId).find((s) => s.imageId === 'c' && s.state === 'synced'), { message: 'c synced once the fault is gone' });
  });
});

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { DmsImages } from '../../sim/dms/images.js';
import { issueCert, toPfx } from '../../sim/pki.js';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { imagesKnown, startHarness, type Harness } from '../helpers/harness.js';
import { resultsOf, statesOf } from '../helpers/devices.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';

/*
 * The data directory's disk runs full under a running relay. Behaviour under test (README
 * "When the data disk is full"): phones are still served from the cache, new DMS frames are
 * nacked with STORE_FULL instead of acked, /readyz answers 503 naming the reason, STORE_FULL is
 * logged once per episode, a cache fill that hits ENOSPC is CACHE_DISK_FULL (507), and once
 * space is back the relay accepts frames and is ready again without a restart. A command that
 * ran while the disk was full keeps its result in memory and writes it (and the task's end)
 * once space is back: every device still gets exactly one result; status polls meanwhile
 * neither fail nor log per phone.
 *
 * Two ways to fill the disk: a real tmpfs of a few MB filled with a file (needs root and mount;
 * CI runs as root), and SQLite's own page limit (PRAGMA max_page_count on the relay's
 * connection), which gives the same SQLITE_FULL anywhere.
 */

const MB = 1024 * 1024;
const FQDN = 'relay.test.example';
const goodAuth = `Basic ${Buffer.from('PlcmSpIp:PlcmSpIp').toString('base64')}`;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface World {
  sim: DmsSimulator;
  h: Harness;
  dms: DmsImages;
  client: Agent;
  base: string;
  relayId: string;
  cleanup: (() => void)[];
}

let world: World | undefined;

afterEach(async () => {
  if (!world) return;
  await world.client.close();
  await world.h.close();
  await world.sim.close();
  for (const c of world.cleanup.reverse()) c();
  world = undefined;
});

async function startWorld(dataDir: string | undefined, cleanup: (() => void)[], extra: Record<string, unknown> = {}): Promise<World> {
  const dms = new DmsImages({
    images: [
      { imageId: 'cached', size: 1 * MB, path: '/swupdate/cached/sip.ld' },
      { imageId: 'later', size: 2 * MB, path: '/swupdate/later/sip.ld' },
    ],
    // No pre-fill: phones trigger the fills.
    syncWindow: { days: ['mon'], start: '02:00', end: '03:00', notBefore: '2099-01-01T00:00' },
  });
  const sim = await startDmsSimulator({});
  sim.addRoutes(dms.routes);
  const dir = tempDir('cr-disk-full-');
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const leaf = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: sim.ca });
  writeFileSync(join(dir, 'relay.pfx'), toPfx(leaf, [sim.ca], 'pfx-pass'));
  const h = await startHarness({
    existingSim: sim,
    ...(dataDir ? { dataDir } : {}),
    relayConfig: { pfxFile: join(dir, 'relay.pfx'), pfxPassphrase: 'pfx-pass', ...extra },
  });
  const relayId = await h.connected();
  await imagesKnown(h, ['cached', 'later']);
  const client = new Agent({ connect: { ca: sim.caPem, servername: FQDN }, connections: 8 });
  const base = `https://127.0.0.1:${String(h.daemon.addresses.https?.port)}`;
  return { sim, h, dms, client, base, relayId, cleanup };
}

async function phoneGet(w: World, path: string) {
  const res = await request(`${w.base}${path}`, { dispatcher: w.client, headers: { authorization: goodAuth } });
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

async function readyz(w: World): Promise<{ status: number; body: { ready: boolean; checks: { name: string; ok: boolean; detail?: string }[] } }> {
  const res = await request(`${w.h.adminUrl()}/readyz`);
  return { status: res.statusCode, body: (await res.body.json()) as never };
}

let taskNo = 0;
/** A task for later (it waits in the store, nothing runs): the frame's only effect is what it stores. */
function submit(w: World): string {
  taskNo++;
  return w.sim.submitTask(w.relayId, {
    command: { kind: 'reboot' },
    targets: [{ deviceId: `dev-${taskNo}`, mac: '0004f2000001', ip: '127.20.250.1', vendor: 'polycom', credentials: { user: 'Polycom', password: 'pw' } }],
    executeAt: new Date(Date.now() + 3_600_000).toISOString(),
  }).frameId;
}

async function answerOf(w: World, frameId: string): Promise<string> {
  return waitFor(() => w.sim.answer(w.relayId, frameId), { message: `answer to frame ${frameId}` });
}

/** Sends frames until one is refused; every earlier one must have been acked (and so stored). */
async function sendUntilRefused(w: World, max: number): Promise<{ acked: number; refusal: string }> {
  for (let i = 0; i < max; i++) {
    const answer = await answerOf(w, submit(w));
    if (answer !== 'ack') return { acked: i, refusal: answer };
  }
  throw new Error(`${max} frames all acked: the disk never ran full`);
}

async function behavesFullThenRecovers(w: World, fill: () => void, free: () => void, whileFull?: () => Promise<void>): Promise<void> {
  // The image is cached before the disk fills.
  const first = await phoneGet(w, '/swupdate/cached/sip.ld');
  expect(first.status).toBe(200);
  expect(sha(first.body)).toBe(w.dms.sha256('cached'));
  expect((await readyz(w)).status).toBe(200);

  fill();
  const { refusal } = await sendUntilRefused(w, 400);
  expect(refusal).toMatch(/^nack: STORE_FULL: /);
  // Further frames are refused too, not acked and lost.
  const more = [submit(w), submit(w), submit(w)];
  for (const id of more) expect(await answerOf(w, id)).toMatch(/^nack: STORE_FULL/);

  // Not ready, with the reason, in /readyz and in the status document.
  const nr = await readyz(w);
  expect(nr.status).toBe(503);
  const check = nr.body.checks.find((c) => c.name === 'store-space');
  expect(check?.ok).toBe(false);
  expect(check?.detail).toMatch(/data directory .* is full \(SQLITE_FULL/);
  const status = w.h.daemon.statusDocument();
  expect(status.readiness.ready).toBe(false);
  expect(status.readiness.checks.find((c) => c.name === 'store-space')?.detail).toMatch(/refused/);

  // Phones are still served from the cache.
  const phones = await Promise.all(Array.from({ length: 5 }, () => phoneGet(w, '/swupdate/cached/sip.ld')));
  for (const p of phones) {
    expect(p.status).toBe(200);
    expect(sha(p.body)).toBe(w.dms.sha256('cached'));
  }
  // One log line for the whole episode, however many writes failed.
  expect(w.h.logs.withCode('STORE_FULL')).toHaveLength(1);
  expect(w.h.logs.withCode('FRAME_STORE_FAILED')).toHaveLength(0);
  await whileFull?.();

  free();
  // No restart: the same daemon notices by itself (the readiness probe writes a little).
  const daemon = w.h.daemon;
  await waitFor(async () => (await readyz(w)).status === 200, { message: 'ready again after space came back' });
  expect(w.h.daemon).toBe(daemon);
  expect(await answerOf(w, submit(w))).toBe('ack');
  expect(w.h.logs.find((l) => /takes writes again/.test(l.msg ?? ''))).toMatchObject({ refusedFrames: expect.any(Number) });
  expect(w.h.logs.withCode('STORE_FULL')).toHaveLength(1);
}

/**
 * Makes the store full to the last byte and keeps it so: no new page (max_page_count), no room
 * left in the pages it has (filler rows of shrinking size), and whatever the relay frees
 * meanwhile (an acked outbox row, a pruned record) is taken again every few milliseconds, so
 * any write that needs space fails. Returns the function that gives the space back.
 */
function keepFull(db: Harness['daemon']['store']): () => void {
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  const put = db.prepare('INSERT INTO kv (key, value, updated_at) VALUES (?, ?, 0)');
  let n = 0;
  const fill = () => {
    // A test that failed early closes the relay (and its database) without giving space back.
    if (!db.open) return clearInterval(timer);
    for (const size of [3_000, 800, 200, 40, 1]) {
      for (;;) {
        try {
          put.run(`test.filler.${n++}`, 'x'.repeat(size));
        } catch (err) {
          if ((err as { code?: string }).code !== 'SQLITE_FULL') throw err;
          break;
        }
      }
    }
  };
  const timer = setInterval(fill, 5);
  fill();
  return () => {
    clearInterval(timer);
    db.pragma('max_page_count = 1073741823');
    db.prepare("DELETE FROM kv WHERE key LIKE 'test.filler.%'").run();
  };
}

describe('data directory full', () => {
  it('results of commands that ran while full wait in memory and are written once space is back: one result per device, then done', async () => {
    const farm = await PhoneFarm.start({ count: 40, firstIndex: 53_000 + (process.pid % 50) * 50, faults: { delayMs: 1_500 } });
    world = await startWorld(undefined, [], { devices: { tlsPolicy: 'insecure', pollIntervalSeconds: 60, requestTimeoutMs: 10_000 } });
    world.cleanup.push(() => void farm.close());
    const w = world;
    const targets = farm.targets();
    const { taskId, frameId } = w.sim.submitTask(w.relayId, { command: { kind: 'getParams', args: { names: ['device.sntp.serverName'] } }, targets });
    expect(await answerOf(w, frameId)).toBe('ack');
    // The task has started (its first phone is asked) and every phone answers 1.5 s after a
    // request: the disk fills before any result comes back.
    await waitFor(() => farm.phones.some((p) => [...p.phone.hits.values()].some((n) => n > 0)), { intervalMs: 5, message: 'the first phone asked' });
    const pollFailuresBefore = w.h.daemon.statusDocument().deviceWork.pollFailures;
    const free = keepFull(w.h.daemon.store);

    // Held, not failed: the relay says so and waits.
    await waitFor(() => w.h.logs.withCode('STORE_FULL').length === 1, { message: 'STORE_FULL logged' });
    const held = await waitFor(
      async () => {
        const r = await readyz(w);
        const detail = r.body.checks.find((c) => c.name === 'store-space')?.detail ?? '';
        return r.status === 503 && /[1-9]\d* result\(s\) held in memory/.test(detail) ? detail : undefined;
      },
      { message: 'results held while the disk is full' },
    );
    expect(held).toMatch(/is full \(SQLITE_FULL/);
    const doneBefore = statesOf(w.sim, w.relayId, taskId).filter((s) => s.state === 'done');
    expect(doneBefore).toHaveLength(0);
    expect(resultsOf(w.sim, w.relayId, taskId).size).toBeLessThan(targets.length);

    free();
    await waitFor(() => statesOf(w.sim, w.relayId, taskId).some((s) => s.state === 'done'), { timeoutMs: 30_000, message: 'task done after space came back' });
    // Exactly one result per device, all of them before the task's end.
    const frames = w.sim.received(w.relayId).filter((f) => f.frame.taskId === taskId);
    const results = frames.filter((f) => f.type === 'task.result');
    expect(results.map((f) => f.frame.deviceId).sort()).toEqual(targets.map((t) => t.deviceId).sort());
    for (const r of results) expect(r.frame.outcome).toBe('success');
    const doneAt = frames.findIndex((f) => f.type === 'task.state' && f.frame.state === 'done');
    expect(frames.findLastIndex((f) => f.type === 'task.result')).toBeLessThan(doneAt);
    expect(w.h.logs.find((l) => /device command crashed|task run failed/.test(l.msg ?? ''))).toBeUndefined();
    // Polls during the episode were not failures, and no per-phone line was logged for them.
    expect(w.h.daemon.statusDocument().deviceWork.pollFailures).toBe(pollFailuresBefore);
    expect(w.h.logs.find((l) => /status poll failed/.test(l.msg ?? ''))).toBeUndefined();
    expect(w.h.logs.withCode('STORE_FULL')).toHaveLength(1);
    expect(w.h.logs.find((l) => /takes writes again/.test(l.msg ?? ''))).toMatchObject({ heldWrites: expect.any(Number) });
  });

  it("SQLite's page limit reached: frames nacked, not ready, phones served, recovery without restart", async () => {
    world = await startWorld(undefined, []);
    const w = world;
    const db = w.h.daemon.store;
    await behavesFullThenRecovers(
      w,
      () => {
        db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
      },
      () => {
        db.pragma('max_page_count = 1073741823');
      },
    );
  });

  it('a real full tmpfs: the same, and a cache fill hitting ENOSPC is CACHE_DISK_FULL (507) with the relay still up', async (ctx) => {
    const mnt = tempDir('cr-disk-full-mnt-');
    const cleanup: (() => void)[] = [() => rmSync(mnt, { recursive: true, force: true })];
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=12m,mode=0700', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch (err) {
      for (const c of cleanup) c();
      ctx.skip(`cannot mount a small tmpfs (needs root and CAP_SYS_ADMIN): ${(err as Error).message.split('\n')[0]}`);
      return;
    }
    cleanup.push(() => execFileSync('umount', ['-l', mnt], { stdio: 'pipe' }));
    const dataDir = join(mnt, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    world = await startWorld(dataDir, cleanup);
    const w = world;
    const filler = join(mnt, 'filler');
    await behavesFullThenRecovers(
      w,
      () => {
        const chunk = Buffer.alloc(64 * 1024, 1);
        const fd = openSync(filler, 'w');
        try {
          for (;;) writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
        } finally {
          closeSync(fd);
        }
        // Fill the last partial block too.
        const fd2 = openSync(join(mnt, 'filler-tail'), 'w');
        try {
          for (;;) writeSync(fd2, Buffer.alloc(512, 1));
        } catch {
          // ENOSPC: the disk is full to the byte.
        } finally {
          closeSync(fd2);
        }
      },
      () => {
        rmSync(filler);
        rmSync(join(mnt, 'filler-tail'));
      },
      async () => {
        // An image not cached yet: its fill hits ENOSPC on the same disk. The phone gets 507, or
        // (when its answer had already begun streaming) a cut connection; never a short 200.
        const later = await phoneGet(w, '/swupdate/later/sip.ld').catch((err: Error) => ({ status: 0, body: Buffer.alloc(0), err }));
        if (later.status !== 0) expect(later.status).toBe(507);
        else expect((later as { err: Error }).err.message).toMatch(/other side closed|terminated|aborted/);
        expect(w.h.logs.withCode('CACHE_DISK_FULL').length).toBeGreaterThan(0);
        const cached = await phoneGet(w, '/swupdate/cached/sip.ld');
        expect(cached.status).toBe(200);
      },
    );
  });
});

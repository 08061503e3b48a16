import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { spawnCli, spawnRelay, type RelayProcess } from '../helpers/child.js';
import { tempDir, writeRelayConfig } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A damaged database file at start: the relay does not limp on or crash with a stack trace;
 * it exits 78 (restarting cannot help) naming the file and what to do, and
 * `cloud-relay db check` says what is wrong (exit 1) or that all is well (exit 0).
 */
describe('corrupt database at start', () => {
  let sim: DmsSimulator | undefined;
  let relay: RelayProcess | undefined;
  const dir = tempDir('cr-dbcorrupt-');
  const dataDir = join(dir, 'data');
  const file = join(dataDir, 'relay.db');

  afterAll(async () => {
    relay?.kill('SIGKILL');
    await relay?.exited;
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const check = async (): Promise<{ code: number | null; out: string }> => {
    const p = spawnCli(undefined, { args: ['db', 'check', '--data-dir', dataDir] });
    const { code } = await p.exited;
    return { code, out: p.stdout.join('\n') + p.stderr.join('\n') };
  };

  const startFails = async (configFile: string): Promise<string> => {
    relay = spawnRelay(configFile);
    const { code } = await relay.exited;
    expect(code).toBe(78);
    const said = relay.stderr.join('\n');
    expect(said).toContain(file);
    expect(said).toMatch(/db check/);
    expect(said).toMatch(/restore/);
    expect(relay.stdout.join('\n')).toContain('DB_CORRUPT');
    return said;
  };

  it('db check passes on a sound file; a damaged header or damaged pages stop the start with exit 78 and fail db check', async () => {
    sim = await startDmsSimulator();
    const configFile = writeRelayConfig(dir, { dmsUrl: sim.url, caPem: sim.caPem, dataDir, extra: { logLevel: 'info' } });
    relay = spawnRelay(configFile);
    await waitFor(() => sim!.relays().find((r) => r.connected), { timeoutMs: 20_000, message: 'relay connected' });
    relay.kill('SIGTERM');
    expect((await relay.exited).code).toBe(0);

    const sound = await check();
    expect(sound.code, sound.out).toBe(0);
    expect(sound.out).toMatch(/integrity\s+ok/);
    expect(sound.out).toMatch(/migrations applied 1, 2, 3, 4, 5, 6, 7, 8/);
    expect(sound.out).toMatch(/result\s+ok/);
    const good = join(dir, 'good.db');
    copyFileSync(file, good);

    // Pages after the schema page overwritten: the tables' b-trees are garbage.
    const bytes = readFileSync(good);
    const pageSize = bytes.readUInt16BE(16) === 1 ? 65536 : bytes.readUInt16BE(16);
    bytes.fill(0xab, pageSize);
    writeFileSync(file, bytes);
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    await startFails(configFile);
    const pages = await check();
    expect(pages.code).toBe(1);
    expect(pages.out).toMatch(/PROBLEMS/);

    // Not a database at all (header gone).
    const header = readFileSync(good);
    header.fill(0x00, 0, 100);
    writeFileSync(file, header);
    await startFails(configFile);
    const notDb = await check();
    expect(notDb.code).toBe(1);
    expect(notDb.out).toMatch(/not a readable SQLite database|integrity_check found/);

    // The documented way out works: the good file back, the relay starts.
    copyFileSync(good, file);
    relay = spawnRelay(configFile);
    await waitFor(() => sim!.relays().filter((r) => r.connected).length > 0, { timeoutMs: 20_000, message: 'relay connected after restore' });
  }, 120_000);
});

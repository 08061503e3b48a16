import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { spawnCli } from '../helpers/child.js';
import { startChildRelay, type ChildRelay } from '../helpers/child-relay.js';
import { resultsOf, statesOf } from '../helpers/devices.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Device passwords, the AD password and setParams values reach the relay in task frames.
 * After the tasks ran (and while a scheduled one still waits) neither the database file nor
 * its WAL holds any of them in clear; the key sits outside the data directory, and a lost
 * key stops the start with its code instead of a crash or a silently fresh key.
 */
describe('secrets at rest', () => {
  let rig: ChildRelay | undefined;
  let farm: PhoneFarm | undefined;
  const devicePw = 'Dev1ce-Pw-7f3a9c2e';
  const scheduledPw = 'Sched-Pw-c0ffee42';
  const adPw = 'AD-Pw-91b2d7e5';
  const paramSecret = 'Sip-Auth-5e8d1f0a';

  afterAll(async () => {
    await rig?.close();
    await farm?.close();
  });

  it('the database and its WAL hold no cleartext secret after tasks ran; a lost key is a clear exit 78', async () => {
    farm = await PhoneFarm.start({ count: 2, firstIndex: 7000 + (process.pid % 50) * 100 });
    farm.phone(0).password = devicePw;
    rig = await startChildRelay('cr-secrets-');
    const { sim, dataDir } = rig;
    const keyFile = join(rig.dir, 'data-keys', 'secrets.key');
    const dbBytes = (): string => ['relay.db', 'relay.db-wal'].map((f) => (existsSync(join(dataDir, f)) ? readFileSync(join(dataDir, f)).toString('latin1') : '')).join('');
    const relayId = await rig.connected();

    const target = farm.target(0);
    const scheduled = sim.submitTask(relayId, {
      command: { kind: 'getParams', args: { names: ['device.sntp.serverName'] } },
      targets: [{ ...farm.target(1), credentials: { user: 'Polycom', password: scheduledPw } }],
      executeAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    const ad = sim.submitTask(relayId, { command: { kind: 'adPassword', args: { password: adPw } }, targets: [target] });
    const set = sim.submitTask(relayId, { command: { kind: 'setParams', args: { values: { 'reg.1.auth.password': paramSecret } } }, targets: [target] });
    await waitFor(() => [ad.taskId, set.taskId].every((id) => statesOf(sim, relayId, id).some((s) => s.state === 'done')), { timeoutMs: 20_000, message: 'both tasks done' });
    await waitFor(() => statesOf(sim, relayId, scheduled.taskId).length > 0, { message: 'scheduled task stored' });
    // The phone got the real values: they were opened for the command, not stored redacted.
    expect(resultsOf(sim, relayId, set.taskId).get(target.deviceId)).toMatchObject({ outcome: 'success' });
    expect(farm.phone(0).config.get('reg.1.auth.password')?.[0]).toBe(paramSecret);

    const bytes = dbBytes();
    expect(bytes.length).toBeGreaterThan(0);
    for (const secret of [devicePw, scheduledPw, adPw, paramSecret]) expect(bytes.includes(secret), `${secret} in relay.db / relay.db-wal`).toBe(false);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    await rig.kill('SIGTERM');
    const afterStop = dbBytes();
    for (const secret of [devicePw, scheduledPw, adPw, paramSecret]) expect(afterStop.includes(secret)).toBe(false);

    // The key is gone: the start refuses with the file named and the way out, not a stack trace.
    rmSync(keyFile);
    const relay = rig.restart();
    const exit = await relay.exited;
    expect(exit.code).toBe(78);
    const said = relay.stderr.join('\n');
    expect(said).toContain(keyFile);
    expect(said).toMatch(/forget-secrets/);
    expect(relay.stdout.join('\n')).toContain('SECRETS_KEY_MISSING');

    // The admin gives up on the old secrets: the relay starts with a new key and the
    // scheduled task, whose password is gone, fails with that reason when it runs.
    const forget = spawnCli(undefined, { args: ['db', 'forget-secrets', '--data-dir', dataDir] });
    expect((await forget.exited).code).toBe(0);
    rig.restart();
    await rig.connected();
    expect(existsSync(keyFile)).toBe(true);
    sim.sendFrame(relayId, { type: 'task.update', taskId: scheduled.taskId, executeAt: new Date().toISOString() });
    await waitFor(() => resultsOf(sim, relayId, scheduled.taskId).size === 1, { timeoutMs: 20_000, message: 'scheduled task result' });
    expect([...resultsOf(sim, relayId, scheduled.taskId).values()][0]).toMatchObject({ outcome: 'failure', reason: expect.stringContaining('SECRETS_UNREADABLE') });
  }, 120_000);
});

import { afterEach, describe, expect, it } from 'vitest';
import type { Harness, HarnessOptions } from '../helpers/harness.js';
import { resultsOf, runTask, startRelayWithPhones, statesOf } from '../helpers/devices.js';
import { waitFor } from '../helpers/wait.js';
import type { PhoneFarm } from '../../sim/phone/farm.js';

/** Scheduling, update/delete rules, expiry, lateness and the site rule, end to end. */
describe('task lifecycle', () => {
  let h: Harness | undefined;
  let farm: PhoneFarm | undefined;
  const base = 2000 + (process.pid % 50) * 100;

  afterEach(async () => {
    await farm?.close();
    await h?.close();
    farm = undefined;
    h = undefined;
  });

  async function setup(count: number, sim: HarnessOptions = {}) {
    const started = await startRelayWithPhones({ count, firstIndex: base, timing: { rebootOfflineMs: 200, callStepMs: 10, answerMs: 30 } }, sim);
    ({ h, farm } = started);
    return started;
  }

  const answered = (hh: Harness, relayId: string, frameId: string) => waitFor(() => hh.sim.answer(relayId, frameId), { message: `answer to ${frameId}` });

  it('a scheduled task runs at executeAt while the control channel is down; its results arrive after the reconnect', async () => {
    const { h, farm, relayId } = await setup(2);
    // Far enough ahead that, on a loaded machine, the ack and the cut both land before it is due.
    const executeAt = new Date(Date.now() + 4_000).toISOString();
    const { taskId, frameId } = h.sim.submitTask(relayId, { command: { kind: 'reboot' }, targets: farm.targets(), executeAt });
    expect(await answered(h, relayId, frameId)).toBe('ack');
    h.sim.setFaults({ refuseUpgradesForMs: 60_000 });
    h.sim.disconnect(relayId, 4001, 'test: channel down');
    await waitFor(() => !h.sim.connected(relayId), { message: 'channel down' });
    // Both phones reboot while the relay cannot talk to the DMS.
    await waitFor(() => farm.phone(0).reboots === 1 && farm.phone(1).reboots === 1, { message: 'phones rebooted by the scheduled task', timeoutMs: 15_000 });
    expect(h.sim.connected(relayId)).toBe(false);
    expect(resultsOf(h.sim, relayId, taskId).size).toBe(0);
    h.sim.setFaults({ refuseUpgradesForMs: 0 });
    await waitFor(() => resultsOf(h.sim, relayId, taskId).size === 2 && statesOf(h.sim, relayId, taskId).some((s) => s.state === 'done'), {
      timeoutMs: 15_000,
      message: 'results after reconnect',
    });
    for (const r of resultsOf(h.sim, relayId, taskId).values()) expect(r.outcome).toBe('success');
    const done = statesOf(h.sim, relayId, taskId).find((s) => s.state === 'done')!;
    expect(done.totals).toEqual({ total: 2, success: 2, failure: 0, notApplicable: 0, inProgress: 0 });
    expect(Date.parse(String(done.executedAt))).toBeGreaterThanOrEqual(Date.parse(executeAt));
  });

  it('update and delete only while scheduled; an executing task refuses both; unknown ids are refused', async () => {
    const { h, farm, relayId } = await setup(3);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const { taskId, frameId } = h.sim.submitTask(relayId, { command: { kind: 'checkSync' }, targets: [farm.target(0)], executeAt: later });
    expect(await answered(h, relayId, frameId)).toBe('ack');
    const upd = h.sim.sendFrame(relayId, { type: 'task.update', taskId, name: 'renamed', targets: [farm.target(0), farm.target(1)] });
    expect(await answered(h, relayId, upd)).toBe('ack');
    await waitFor(() => statesOf(h.sim, relayId, taskId).some((s) => s.state === 'scheduled' && (s.totals as { total: number }).total === 2), {
      message: 'scheduled state with 2 targets',
    });
    const del = h.sim.sendFrame(relayId, { type: 'task.delete', taskId });
    expect(await answered(h, relayId, del)).toBe('ack');
    await waitFor(() => statesOf(h.sim, relayId, taskId).some((s) => s.state === 'deleted'), { message: 'deleted state' });
    expect(h.daemon.statusDocument().tasks).toEqual({ scheduled: 0, running: 0, rollouts: { active: 0, devicesUpgrading: 0, devicesWaitingIdle: 0 } });
    const unknown = h.sim.sendFrame(relayId, { type: 'task.update', taskId: 'no-such-task', name: 'x' });
    expect(await answered(h, relayId, unknown)).toMatch(/nack.*unknown taskId no-such-task/);

    // An executing task (its phone answers slowly) can be neither updated nor deleted. Slow
    // enough that the two refusals below land while it executes, on a loaded machine too.
    farm.phone(2).faults.delayMs = 4_000;
    const run = h.sim.submitTask(relayId, { command: { kind: 'checkSync' }, targets: [farm.target(2)] });
    await waitFor(() => statesOf(h.sim, relayId, run.taskId).some((s) => s.state === 'executing'), { message: 'executing' });
    const del2 = h.sim.sendFrame(relayId, { type: 'task.delete', taskId: run.taskId });
    expect(await answered(h, relayId, del2)).toMatch(/nack.*executing and cannot be deleted/);
    const upd2 = h.sim.sendFrame(relayId, { type: 'task.update', taskId: run.taskId, name: 'x' });
    expect(await answered(h, relayId, upd2)).toMatch(/nack.*only a scheduled task can be updated/);
    await waitFor(() => statesOf(h.sim, relayId, run.taskId).some((s) => s.state === 'done'), { message: 'done' });
    const upd3 = h.sim.sendFrame(relayId, { type: 'task.update', taskId: run.taskId, name: 'x' });
    expect(await answered(h, relayId, upd3)).toMatch(/nack.*is done/);
    const del3 = h.sim.sendFrame(relayId, { type: 'task.delete', taskId: run.taskId });
    expect(await answered(h, relayId, del3)).toBe('ack');
    expect(farm.phone(0).syncs + farm.phone(1).syncs).toBe(0);
  });

  it('a task not started before expiresAt is done with every device failed "expired"', async () => {
    const { h, farm, relayId } = await setup(2);
    const now = Date.now();
    const r = await runTask(h.sim, relayId, {
      command: { kind: 'reboot' },
      targets: farm.targets(),
      executeAt: new Date(now + 400).toISOString(),
      expiresAt: new Date(now + 100).toISOString(),
    });
    expect([...r.values()].map((x) => x.outcome)).toEqual(['failure', 'failure']);
    expect([...r.values()][0]?.reason).toMatch(/^expired/);
    expect(farm.phone(0).reboots + farm.phone(1).reboots).toBe(0);
  });

  it('a task whose time passed while the relay was down runs at start-up and says how late', async () => {
    const { h, farm, relayId } = await setup(1);
    // Due late enough that the relay is surely down by then, even when the ack is slow.
    const executeAtMs = Date.now() + 2_000;
    const { taskId, frameId } = h.sim.submitTask(relayId, { command: { kind: 'checkSync' }, targets: [farm.target(0)], executeAt: new Date(executeAtMs).toISOString() });
    expect(await answered(h, relayId, frameId)).toBe('ack');
    await h.daemon.stop('test: relay down over executeAt');
    // The outage itself, until 2.5 s past executeAt: nothing to wait on.
    await new Promise((r) => setTimeout(r, Math.max(0, executeAtMs + 2_500 - Date.now())));
    expect(farm.phone(0).syncs).toBe(0);
    await h.startRelay();
    await waitFor(() => resultsOf(h.sim, relayId, taskId).size === 1, { timeoutMs: 15_000, message: 'late result' });
    const res = resultsOf(h.sim, relayId, taskId).get(farm.target(0).deviceId)!;
    expect(res.outcome).toBe('success');
    expect(res.data?.lateSeconds).toBeGreaterThanOrEqual(2);
    expect(res.reason).toMatch(/after executeAt/);
    expect(farm.phone(0).syncs).toBe(1);
  });

  it('a site-specific relay answers not_applicable for targets outside its subnets and never contacts them', async () => {
    const { h, farm, relayId } = await setup(1, { sim: { site: { id: 's1', name: 'Lab', subnets: ['127.20.0.0/16'], siteSpecific: true } } });
    const outside = { ...farm.target(0), deviceId: 'outside', ip: '127.21.0.9' };
    const r = await runTask(h.sim, relayId, { command: { kind: 'checkSync' }, targets: [farm.target(0), outside] });
    expect(r.get(farm.target(0).deviceId)?.outcome).toBe('success');
    expect(r.get('outside')).toMatchObject({ outcome: 'not_applicable', reason: expect.stringMatching(/outside this relay's site/) });
  });
});

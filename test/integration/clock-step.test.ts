import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { SteppableClock } from '../helpers/clock.js';
import { waitFor } from '../helpers/wait.js';

/*
 * The system clock steps an hour forward and back under a running relay (README "When the
 * clock jumps"). Timers run on the monotonic clock, so the relay notices the step by comparing
 * both clocks and re-arms what it scheduled by wall-clock time: a task due inside the skipped
 * hour runs at once, exactly once; after a step back a task waits for its wall-clock time and
 * then runs once. Heartbeats go on throughout: the token's lifetime is measured on the monotonic
 * clock from the DMS's Date, so a step neither expires it nor makes the relay re-register in a
 * loop. A reboot is the command: the phone counts them.
 */

const HOUR = 3_600_000;
let h: Harness;
let farm: PhoneFarm;
let relayId: string;
const clock = new SteppableClock();

beforeAll(async () => {
  farm = await PhoneFarm.start({ count: 2, firstIndex: 52_000 + (process.pid % 50) * 10, timing: { rebootOfflineMs: 100 } });
  h = await startHarness({ clock, clockStepCheckMs: 100, sim: { heartbeatIntervalSeconds: 1 } });
  relayId = await h.connected();
});

afterAll(async () => {
  await h?.close();
  await farm?.close();
});

function results(taskId: string) {
  return h.sim.received(relayId, 'task.result').filter((f) => f.frame.taskId === taskId);
}

function scheduleReboot(phone: number, inMs: number): string {
  return h.sim.submitTask(relayId, {
    command: { kind: 'reboot' },
    targets: [farm.target(phone) as unknown as Record<string, unknown>],
    executeAt: new Date(clock.now() + inMs).toISOString(),
  }).taskId;
}

async function stored(taskId: string): Promise<void> {
  await waitFor(() => h.sim.received(relayId, 'task.state').some((f) => f.frame.taskId === taskId), { message: `task ${taskId} stored` });
}

describe('the wall clock steps', () => {
  it('forward an hour: a task due inside the skipped hour runs at once, exactly once; heartbeats go on', async () => {
    const taskId = scheduleReboot(0, 30 * 60_000);
    await stored(taskId);
    const beats = h.sim.heartbeats(relayId).length;
    const stepsBefore = h.logs.withCode('CLOCK_STEPPED').length;
    const registrations = () => h.logs.lines().filter((l) => l.msg === 'registered with the DMS').length;
    const registeredBefore = registrations();
    clock.step(HOUR);
    await waitFor(() => results(taskId).length > 0, { message: 'the due task ran after the step forward' });
    expect(results(taskId)[0]?.frame).toMatchObject({ outcome: 'success', reason: expect.stringMatching(/clock jumped forward/) });
    const stepLine = h.logs.withCode('CLOCK_STEPPED')[stepsBefore];
    expect(stepLine).toMatchObject({ scheduledTasks: 1 });
    expect(Number(stepLine?.offsetSeconds)).toBeGreaterThanOrEqual(3_590);
    await waitFor(() => farm.phone(0).reboots === 1, { message: 'the phone rebooted' });
    await waitFor(() => h.sim.heartbeats(relayId).length >= beats + 2, { message: 'heartbeats after the step' });
    // The token is still good: the DMS's time decides, not this machine's stepped clock.
    expect(registrations()).toBe(registeredBefore);
    // The original one-hour timer was replaced, not left to fire a second time.
    expect(farm.phone(0).reboots).toBe(1);
    expect(results(taskId)).toHaveLength(1);
  });

  it('back an hour (NTP corrects the clock): a task due in 6 s waits for its wall-clock time, then runs once', async () => {
    // Due far enough ahead that, on a loaded machine, the frame is stored and the step lands
    // before the original timer would have fired.
    const dueInMs = 6_000;
    const submittedAt = Date.now();
    const taskId = scheduleReboot(1, dueInMs);
    await stored(taskId);
    const stepsBefore = h.logs.withCode('CLOCK_STEPPED').length;
    clock.step(-HOUR);
    await waitFor(() => h.logs.withCode('CLOCK_STEPPED').length > stepsBefore, { message: 'the step back noticed' });
    expect(Number(h.logs.withCode('CLOCK_STEPPED')[stepsBefore]?.offsetSeconds)).toBeLessThanOrEqual(-3_590);
    // Its monotonic 6 s pass: by the wall clock it is still an hour early, so nothing runs.
    const beats = h.sim.heartbeats(relayId).length;
    await new Promise((r) => setTimeout(r, Math.max(1_000, submittedAt + dueInMs + 1_000 - Date.now())));
    expect(results(taskId)).toHaveLength(0);
    expect(farm.phone(1).reboots).toBe(0);
    expect(h.sim.heartbeats(relayId).length).toBeGreaterThan(beats);
    // The clock jumps forward again: the task is due now and runs once.
    clock.step(HOUR);
    await waitFor(() => results(taskId).length > 0, { message: 'the task ran once its time came' });
    await waitFor(() => farm.phone(1).reboots === 1, { message: 'the phone rebooted' });
    expect(results(taskId)).toHaveLength(1);
    expect(h.daemon.statusDocument().readiness.ready).toBe(true);
  });
});

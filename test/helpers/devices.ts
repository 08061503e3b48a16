import type { DmsSimulator } from '../../sim/dms/index.js';
import type { TaskSpec } from '../../sim/dms/index.js';
import type { Outbox } from '../../src/core/ports.js';
import type { OutboundBodies, OutboundType } from '../../src/management-agent/frames.js';
import type { FileUploader } from '../../src/device-work/ports.js';
import { DeviceError } from '../../src/devices/errors.js';
import { PhoneFarm, type FarmOptions } from '../../sim/phone/farm.js';
import { startHarness, type Harness, type HarnessOptions } from './harness.js';
import { waitFor } from './wait.js';

export interface SentFrame {
  type: string;
  body: Record<string, unknown>;
}

/**
 * The outbox port with frames collected in memory, for tests that drive the device parts
 * without a control channel (the durable outbox is tested on its own).
 */
export function memoryOutbox(): { outbox: Outbox; sent: SentFrame[] } {
  const sent: SentFrame[] = [];
  const outbox: Outbox = {
    enqueue<T extends OutboundType>(type: T, body: OutboundBodies[T]) {
      sent.push({ type, body: body as unknown as Record<string, unknown> });
      return String(sent.length);
    },
    depth: () => 0,
  };
  return { outbox, sent };
}

/** The uploader port for tests without a DMS: every upload fails as it would with the DMS away. */
export const noUploads: FileUploader = {
  upload: (_path, name) => Promise.reject(new DeviceError('UPLOAD_FAILED', `no DMS in this test to upload ${name} to`, { reached: true })),
  close: () => Promise.resolve(),
};

/**
 * A connected relay (harness) and a farm of simulated phones. If the farm cannot start, the
 * harness is closed before the error is rethrown, so a failed set-up leaks nothing.
 */
export async function startRelayWithPhones(farmOpts: FarmOptions, harnessOpts: HarnessOptions = {}): Promise<{ h: Harness; relayId: string; farm: PhoneFarm }> {
  const h = await startHarness(harnessOpts);
  try {
    const relayId = await h.connected();
    const farm = await PhoneFarm.start(farmOpts);
    return { h, relayId, farm };
  } catch (err) {
    await h.close();
    throw err;
  }
}

export interface TaskResult {
  deviceId: string;
  outcome: string;
  reason?: string;
  data?: Record<string, unknown>;
}

/** task.result frames the DMS simulator received for one task, by deviceId. */
export function resultsOf(sim: DmsSimulator, relayId: string, taskId: string): Map<string, TaskResult> {
  const out = new Map<string, TaskResult>();
  for (const f of sim.received(relayId, 'task.result')) {
    if (f.frame.taskId === taskId) out.set(String(f.frame.deviceId), f.frame as unknown as TaskResult);
  }
  return out;
}

export function statesOf(sim: DmsSimulator, relayId: string, taskId: string): Record<string, unknown>[] {
  return sim
    .received(relayId, 'task.state')
    .filter((f) => f.frame.taskId === taskId)
    .map((f) => f.frame);
}

/** Submits a task and waits for its `done` state; returns the per-device results. */
export async function runTask(sim: DmsSimulator, relayId: string, spec: TaskSpec, timeoutMs = 20_000): Promise<Map<string, TaskResult>> {
  const { taskId } = sim.submitTask(relayId, spec);
  await waitFor(() => statesOf(sim, relayId, taskId).some((s) => s.state === 'done'), { timeoutMs, message: `task ${taskId} (${spec.command.kind}) done` });
  return resultsOf(sim, relayId, taskId);
}

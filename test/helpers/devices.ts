import type { DmsSimulator } from '../../src/sim/dms/index.js';
import type { TaskSpec } from '../../src/sim/dms/index.js';
import { waitFor } from './wait.js';

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
  return sim.received(relayId, 'task.state').filter((f) => f.frame.taskId === taskId).map((f) => f.frame);
}

/** Submits a task and waits for its `done` state; returns the per-device results. */
export async function runTask(sim: DmsSimulator, relayId: string, spec: TaskSpec, timeoutMs = 20_000): Promise<Map<string, TaskResult>> {
  const { taskId } = sim.submitTask(relayId, spec);
  await waitFor(() => statesOf(sim, relayId, taskId).some((s) => s.state === 'done'), { timeoutMs, message: `task ${taskId} (${spec.command.kind}) done` });
  return resultsOf(sim, relayId, taskId);
}

/**
 * Bodies of relay → DMS control-channel frames that go through the outbox (docs/protocol.md
 * §3; the envelope is added on send). Plain types on the ground floor because every part
 * that reports to the DMS (tasks, monitoring, image sync) writes them.
 */
export interface TaskTotals {
  total: number;
  success: number;
  failure: number;
  notApplicable: number;
  inProgress: number;
}
export type Outcome = 'success' | 'failure' | 'not_applicable';
export interface DeviceLine {
  line: number;
  uri: string;
  registered: boolean;
}
export interface OutboundBodies {
  'task.state': { taskId: string; state: 'scheduled' | 'executing' | 'done' | 'deleted'; executedAt?: string; totals: TaskTotals };
  'task.result': { taskId: string; deviceId: string; outcome: Outcome; reason?: string; data?: unknown };
  'device.status': { deviceId: string; online: boolean; uptimeSeconds?: number; lastRebootAt?: string; lines?: DeviceLine[]; callState?: 'idle' | 'in_call'; firmware?: string };
  'device.event': { deviceId?: string; ip: string; event: Record<string, unknown> };
  'image.status': { imageId: string; state: 'syncing' | 'synced' | 'failed'; bytes: number; reason?: string };
  'rollout.state': RolloutStateBody;
  'rollout.result': RolloutResultBody;
}
export type OutboundType = keyof OutboundBodies;

/** A firmware rollout's state and per-phase totals (docs/protocol.md §7). */
export type RolloutState = 'waiting' | 'running' | 'paused' | 'aborted' | 'cancelled' | 'done';
export interface RolloutTotals {
  total: number;
  upgraded: number;
  alreadyCurrent: number;
  inProgress: number;
  waitingIdle: number;
  failed: number;
  notApplicable: number;
  notStarted: number;
}
export interface RolloutStateBody {
  rolloutId: string;
  state: RolloutState;
  reason?: string;
  nextWindowAt?: string;
  totals: RolloutTotals;
}
export interface RolloutResultBody {
  rolloutId: string;
  deviceId: string;
  outcome: 'success' | 'failure' | 'not_applicable';
  fromVersion?: string;
  toVersion?: string;
  reason?: string;
}

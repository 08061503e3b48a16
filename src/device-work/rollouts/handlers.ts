import type { InboundHandlers } from '../../management-agent/ports.js';
import { FrameRefused } from '../../core/ports.js';
import type { Target } from '../../management-agent/frames.js';
import { RolloutRefused, type RolloutRunner } from './runner.js';

export type RolloutFrameType = 'rollout.submit' | 'rollout.update' | 'rollout.pause' | 'rollout.resume' | 'rollout.cancel';

/** Runs `fn`, turning a rollout the runner cannot obey into the nack its reason names. */
function refusing(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof RolloutRefused) throw new FrameRefused(err.reason);
    throw err;
  }
}

/**
 * The §7 frames, handed to the runner inside the transaction that stores them. Targets join
 * the device book as a task's do, so the monitor polls them and their call state is known.
 */
export function rolloutHandlers(r: RolloutRunner, remember: (targets: readonly Target[]) => void): Pick<InboundHandlers, RolloutFrameType> {
  return {
    'rollout.submit': (f) =>
      refusing(() => {
        r.submit({ rolloutId: f.rolloutId, name: f.name, imageId: f.imageId, targets: f.targets, policy: f.policy });
        remember(f.targets);
      }),
    'rollout.update': (f) =>
      refusing(() => {
        r.update(f.rolloutId, { policy: f.policy, targets: f.targets });
        if (f.targets) remember(f.targets);
      }),
    'rollout.pause': (f) => refusing(() => r.pause(f.rolloutId)),
    'rollout.resume': (f) => refusing(() => r.resume(f.rolloutId)),
    'rollout.cancel': (f) => refusing(() => r.cancel(f.rolloutId)),
  };
}

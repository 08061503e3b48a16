import { describe, expect, it } from 'vitest';
import { ClockStepWatcher } from '../../src/core/clock-step.js';

describe('ClockStepWatcher', () => {
  it('reports a wall-clock jump beyond what the monotonic clock saw, forward and back, and ignores drift', () => {
    let wall = 1_000_000;
    let mono = 0;
    const seen: number[] = [];
    const w = new ClockStepWatcher(
      () => wall,
      10_000,
      5_000,
      () => mono,
    );
    w.onStep((s) => seen.push(s.offsetMs));
    // Ten seconds pass on both clocks, with a second of slewing: no step.
    wall += 11_000;
    mono += 10_000;
    expect(w.check()).toBeUndefined();
    // An hour forward on top of ten seconds.
    wall += 3_600_000 + 10_000;
    mono += 10_000;
    expect(w.check()?.offsetMs).toBe(3_600_000);
    // An hour back.
    wall += -3_600_000 + 10_000;
    mono += 10_000;
    expect(w.check()?.offsetMs).toBe(-3_600_000);
    // A stalled event loop moves both clocks alike: no step.
    wall += 60_000;
    mono += 60_000;
    expect(w.check()).toBeUndefined();
    expect(seen).toEqual([3_600_000, -3_600_000]);
  });
});

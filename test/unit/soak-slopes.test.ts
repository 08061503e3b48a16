import { describe, expect, it } from 'vitest';
import { lowerEnvelope, pooledFit, type Sampled } from '../../bench/soak-slopes.js';

/** A life of `minutes` sampled every 2 s: a flat floor plus a GC sawtooth, plus `leakPerHour`. */
function life(n: number, startMs: number, minutes: number, floor: number, leakPerHour: number): Sampled[] {
  const out: Sampled[] = [];
  for (let t = 0; t < minutes * 60_000; t += 2_000) {
    const tooth = ((t % 100_000) / 100_000) * 40; // rises 40 MB over 100 s, then a major GC
    out.push({ life: n, t: startMs + t, y: floor + tooth + (leakPerHour * t) / 3_600_000 });
  }
  return out;
}

describe('soak slopes: lower envelope and pooled within-life fit', () => {
  const starts = new Map([
    [1, 0],
    [2, 240_000],
    [3, 480_000],
  ]);

  it('reads a GC sawtooth on a flat floor as flat, however the lives start', () => {
    const samples = [...life(1, 0, 4, 150, 0), ...life(2, 240_000, 4, 130, 0), ...life(3, 480_000, 12, 170, 0)];
    const pts = lowerEnvelope(samples, starts, { warmupMs: 60_000, untilMs: 20 * 60_000, minSamples: 20 });
    const fit = pooledFit(pts);
    // Every minute's floor is the floor of its tooth: the different levels of the lives cancel.
    expect(Math.abs(fit.slope)).toBeLessThan(5);
    expect(fit.lives).toBe(3);
  });

  it('finds a leak that raises the floor, with the same estimate in every life', () => {
    const samples = [...life(1, 0, 4, 150, 60), ...life(2, 240_000, 4, 130, 60), ...life(3, 480_000, 12, 170, 60)];
    const fit = pooledFit(lowerEnvelope(samples, starts, { warmupMs: 60_000, untilMs: 20 * 60_000, minSamples: 20 }));
    expect(fit.slope).toBeGreaterThan(40);
    expect(fit.slope).toBeLessThan(80);
  });

  it('leaves out the warm-up, the drain after the load, and minutes cut short by a kill', () => {
    const samples = life(1, 0, 10, 100, 0);
    const pts = lowerEnvelope(samples, new Map([[1, 0]]), { warmupMs: 180_000, untilMs: 450_000, minSamples: 20 });
    // Minutes 3-4, 4-5, 5-6, 6-7 are whole and before 7.5 min; 7-8 ends after the load stopped.
    expect(pts.map((p) => Math.round(p.x * 600) / 10)).toEqual([3.5, 4.5, 5.5, 6.5]);
    const cut = lowerEnvelope(
      samples.filter((s) => s.t < 200_000),
      new Map([[1, 0]]),
      { warmupMs: 180_000, untilMs: 600_000, minSamples: 20 },
    );
    expect(cut).toEqual([]);
  });

  it('gives no slope (not zero) when no life has two points', () => {
    expect(pooledFit([{ life: 1, x: 0, y: 1 }]).slope).toBeNaN();
  });
});

/**
 * How the soak turns its sampled series into "does it leak?" numbers.
 *
 * The series are cut into lives (one per relay process: a kill -9 starts a new one with empty
 * memory, so a line drawn across lives measures the restarts, not a leak). Each life begins
 * with a warm-up (module loading, the first poll of every phone, device maps filling, SQLite's
 * page cache, V8 growing its old space until its first major GC); those minutes are left out.
 *
 * RSS is a sawtooth: V8 lets the heap grow until a major GC, then RSS falls back. A slope fitted
 * through every sample reads the teeth. A leak raises the floor the teeth stand on, so the fit
 * uses the lower envelope: the minimum of each whole minute. The same holds for open fds, where
 * each download or poll holds a socket for a moment: the per-minute minimum is the baseline a
 * leak would raise.
 *
 * The slope is one least-squares fit pooled over all lives, each life with its own intercept
 * (the within-life estimator): every life says how fast its floor rises, weighted by how long
 * it was watched. Its standard error is reported with it, because a 20-minute run can only
 * bound a slope of a few MB per hour, not measure it to the last digit.
 */

export interface Point {
  /** Which life (relay process) the point belongs to. */
  readonly life: number;
  /** Hours (any origin). */
  readonly x: number;
  readonly y: number;
}

export interface Fit {
  /** Pooled within-life slope, y units per hour; NaN without two points in some life. */
  readonly slope: number;
  /** Its standard error (NaN with too few points to estimate the scatter). */
  readonly se: number;
  /** Points used, and the lives that had at least two. */
  readonly n: number;
  readonly lives: number;
}

export function pooledFit(points: readonly Point[]): Fit {
  const byLife = new Map<number, Point[]>();
  for (const p of points) byLife.set(p.life, [...(byLife.get(p.life) ?? []), p]);
  let sxy = 0;
  let sxx = 0;
  let n = 0;
  let lives = 0;
  const centred: { dx: number; dy: number }[] = [];
  for (const pts of byLife.values()) {
    if (pts.length < 2) continue;
    lives++;
    n += pts.length;
    const mx = pts.reduce((a, p) => a + p.x, 0) / pts.length;
    const my = pts.reduce((a, p) => a + p.y, 0) / pts.length;
    for (const p of pts) {
      centred.push({ dx: p.x - mx, dy: p.y - my });
      sxy += (p.x - mx) * (p.y - my);
      sxx += (p.x - mx) ** 2;
    }
  }
  if (sxx === 0) return { slope: NaN, se: NaN, n, lives };
  const slope = sxy / sxx;
  // One intercept per life and one common slope are estimated.
  const dof = n - lives - 1;
  const sse = centred.reduce((a, c) => a + (c.dy - slope * c.dx) ** 2, 0);
  return { slope, se: dof > 0 ? Math.sqrt(sse / dof / sxx) : NaN, n, lives };
}

export interface Sampled {
  readonly life: number;
  /** Milliseconds since the soak began. */
  readonly t: number;
  readonly y: number;
}

/**
 * The per-minute minima of each life, leaving out its first `warmupMs` and anything after
 * `untilMs` (the drain after the load stops is not steady state). Only whole minutes with at
 * least `minSamples` samples count, so a minute cut short by a kill does not enter as a floor.
 */
export function lowerEnvelope(
  samples: readonly Sampled[],
  lifeStart: ReadonlyMap<number, number>,
  opts: { warmupMs: number; untilMs: number; bucketMs?: number; minSamples: number },
): Point[] {
  const bucketMs = opts.bucketMs ?? 60_000;
  const buckets = new Map<string, { life: number; start: number; min: number; count: number }>();
  for (const s of samples) {
    const start = lifeStart.get(s.life);
    if (start === undefined || s.t > opts.untilMs) continue;
    const since = s.t - start - opts.warmupMs;
    if (since < 0) continue;
    const i = Math.floor(since / bucketMs);
    const bStart = start + opts.warmupMs + i * bucketMs;
    if (bStart + bucketMs > opts.untilMs) continue;
    const key = `${s.life} ${i}`;
    const b = buckets.get(key);
    if (b) {
      b.min = Math.min(b.min, s.y);
      b.count++;
    } else buckets.set(key, { life: s.life, start: bStart, min: s.y, count: 1 });
  }
  return [...buckets.values()]
    .filter((b) => b.count >= opts.minSamples)
    .sort((a, b) => a.start - b.start)
    .map((b) => ({ life: b.life, x: (b.start + bucketMs / 2) / 3_600_000, y: b.min }));
}

/**
 * Fuzz budgets: a short run in `npm test`, a long one with `npm run fuzz` (FUZZ_RUNS=N, default
 * there 2,000 per property). FUZZ_SEED replays a failure fast-check reported.
 */
export function runs(short: number): number {
  const n = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : short;
}

export function fuzzParams(short: number): { numRuns: number; seed?: number; endOnFailure: true } {
  const seed = Number(process.env.FUZZ_SEED);
  return { numRuns: runs(short), ...(Number.isInteger(seed) ? { seed } : {}), endOnFailure: true };
}

/** Test timeout that grows with the budget: `perRunMs` per run on top of a base. */
export function fuzzTimeout(short: number, perRunMs: number, baseMs = 20_000): number {
  return baseMs + runs(short) * perRunMs;
}

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The small-VM footprint goals, kept in each benchmark's JSON line next to what was measured
 * so a regression shows without a second document: for every goal the measured ratio (to its
 * anchor from the same run, e.g. nginx or the bare-undici floor), the goal, and whether it was
 * met. `goalsMissed` names the goals a run missed ([] when all were met).
 */
export interface Goal {
  /** Field name in the JSON line, e.g. "cpuRatio". */
  readonly name: string;
  /** What was measured; null when the anchor could not run (e.g. no nginx). */
  readonly value: number | null;
  /** The value must be at most this. */
  readonly atMost: number;
}

export function goalFields(goals: readonly Goal[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const missed: string[] = [];
  for (const g of goals) {
    out[g.name] = g.value === null || !Number.isFinite(g.value) ? null : Math.round(g.value * 1000) / 1000;
    out[`${g.name}Goal`] = g.atMost;
    if (g.value === null || !Number.isFinite(g.value) || g.value > g.atMost) missed.push(g.name);
  }
  out.goalsMissed = missed;
  return out;
}

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The node flags the relay ships with (NODE_OPTIONS in the systemd unit, the same line as the
 * image's ENV), so every benchmark measures the relay as installed. BENCH_NODE_OPTIONS
 * overrides them (set it to "" to measure plain node defaults).
 */
export function shippedNodeOptions(): string {
  if (process.env.BENCH_NODE_OPTIONS !== undefined) return process.env.BENCH_NODE_OPTIONS;
  // bench/dist/bench/ → the repository root is three levels up.
  const unit = readFileSync(join(here, '..', '..', '..', 'systemd', 'cloud-relay.service'), 'utf8');
  return /^Environment="?NODE_OPTIONS=([^"\n]*)"?$/m.exec(unit)?.[1]?.trim() ?? '';
}

/** The environment for a relay child: the parent's, with the shipped node flags added. */
export function relayEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const shipped = shippedNodeOptions();
  const own = base.NODE_OPTIONS ?? '';
  return { ...base, NODE_OPTIONS: [own, shipped].filter((s) => s !== '').join(' ') };
}

/** Peak resident set (VmHWM) of a process, in MB; NaN once it has gone. */
export function peakRssMB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
  } catch {
    return NaN;
  }
}

import type { ReadinessCheck, ReadinessReport } from '../core/readiness.js';

export function evaluate(checks: readonly ReadinessCheck[]): ReadinessReport {
  const results = checks.map((c) => {
    try {
      const r = c.check();
      return r.detail === undefined ? { name: c.name, ok: r.ok } : { name: c.name, ok: r.ok, detail: r.detail };
    } catch (err) {
      return { name: c.name, ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  });
  return { ready: results.every((r) => r.ok), checks: results };
}

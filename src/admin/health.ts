/** A readiness check: cheap, synchronous, and honest about why it fails. */
export interface ReadinessCheck {
  readonly name: string;
  check(): { ok: boolean; detail?: string };
}

export interface ReadinessReport {
  ready: boolean;
  checks: { name: string; ok: boolean; detail?: string }[];
}

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

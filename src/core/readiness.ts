/** A readiness check a part contributes: cheap, synchronous, and honest about why it fails. */
export interface ReadinessCheck {
  readonly name: string;
  check(): { ok: boolean; detail?: string };
}

/** What `/readyz` answers and the status document's `readiness` section holds. */
export interface ReadinessReport {
  ready: boolean;
  checks: { name: string; ok: boolean; detail?: string }[];
}

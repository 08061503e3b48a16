/**
 * The relay's one retry pacing: a delay that doubles per attempt up to a cap, with the
 * jitter each caller needs. Used by registration, the control channel's reconnect, the
 * download agent, firmware fills, DMS file uploads and device command retries.
 *
 * - `full`: a random wait in [0, step] (reconnect storms: many relays spread out evenly);
 * - `equal`: half the step fixed, half random (retries that must not hammer, never too early);
 * - `none`: exactly the step.
 */
export type Jitter = 'full' | 'equal' | 'none';

/** How often and how fast an operation is tried again. */
export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** min(cap, base·2^n) for the n-th retry (n = 0 for the first). */
export function backoffStep(n: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.min(Math.max(0, n), 30));
}

/** The wait before the n-th retry (n = 0 for the first), jittered. */
export function backoffDelay(n: number, baseMs: number, capMs: number, jitter: Jitter, random: () => number = Math.random): number {
  const step = backoffStep(n, baseMs, capMs);
  if (jitter === 'full') return Math.floor(random() * step);
  if (jitter === 'equal') return Math.floor(step / 2 + (random() * step) / 2);
  return step;
}

/** The wait after failed attempt number `attempt` (1-based) under `policy`. */
export function retryPolicyDelay(policy: RetryPolicy, attempt: number, jitter: Jitter = 'equal', random: () => number = Math.random): number {
  return backoffDelay(attempt - 1, policy.baseDelayMs, policy.maxDelayMs, jitter, random);
}

/** A backoff that remembers its attempts: next() grows the wait, reset() starts over. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly capMs: number,
    private readonly jitter: Jitter,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const d = backoffDelay(this.attempt, this.baseMs, this.capMs, this.jitter, this.random);
    this.attempt = Math.min(this.attempt + 1, 31);
    return d;
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

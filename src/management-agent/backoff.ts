/** Exponential backoff with full jitter: a random wait in [0, min(cap, base·2^attempt)]. */
export class FullJitterBackoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly capMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** Doubling delay with "equal" jitter (half fixed, half random), for retries that must not hammer. */
export class DoublingBackoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly capMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  next(): number {
    const d = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(d / 2 + (this.random() * d) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** A delay that doubles per attempt up to a cap; subclasses choose how to jitter it. */
abstract class DoublingDelay {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly capMs: number,
    protected readonly random: () => number = Math.random,
  ) {}

  abstract next(): number;

  /** min(cap, base·2^attempt) for this attempt, then counts the attempt. */
  protected ceiling(): number {
    const c = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return c;
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** Exponential backoff with full jitter: a random wait in [0, min(cap, base·2^attempt)]. */
export class FullJitterBackoff extends DoublingDelay {
  next(): number {
    return Math.floor(this.random() * this.ceiling());
  }
}

/** Doubling delay with "equal" jitter (half fixed, half random), for retries that must not hammer. */
export class DoublingBackoff extends DoublingDelay {
  next(): number {
    const d = this.ceiling();
    return Math.floor(d / 2 + (this.random() * d) / 2);
  }
}

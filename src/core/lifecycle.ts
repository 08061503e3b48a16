/**
 * A long-lived part of the daemon. Parts start in the order the composition root adds
 * them and stop in reverse. `drain` lets in-flight work finish (bounded by the deadline);
 * `stop` releases sockets and timers and must not throw.
 */
export interface Component {
  readonly name: string;
  start?(): Promise<void> | void;
  drain?(deadlineMs: number): Promise<void>;
  stop(): Promise<void> | void;
}

/** Shared flag: once set, every server answers new work with 503 while in-flight work drains. */
export class Draining {
  private value = false;
  get active(): boolean {
    return this.value;
  }
  begin(): void {
    this.value = true;
  }
}

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

/**
 * Shared shutdown state, in two steps. `begin` (SIGTERM): readiness fails at once so load
 * balancers stop sending phones, while the phone ports still serve (the drain delay).
 * `close`: the phone ports stop accepting and new work on open connections gets 503 while
 * in-flight work finishes. Without a drain delay both happen together.
 */
export class Draining {
  private began = false;
  private ended = false;
  private readonly onBeginListeners: (() => void)[] = [];

  /** Since SIGTERM: not ready; the status document says DRAINING. */
  get active(): boolean {
    return this.began;
  }

  /** The phone ports are closed; only in-flight work remains. */
  get closed(): boolean {
    return this.ended;
  }

  onBegin(listener: () => void): void {
    this.onBeginListeners.push(listener);
  }

  begin(): void {
    if (this.began) return;
    this.began = true;
    for (const l of this.onBeginListeners) l();
  }

  close(): void {
    this.begin();
    this.ended = true;
  }
}

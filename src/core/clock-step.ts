/**
 * Notices the wall clock stepping (NTP correcting a wrong clock, an admin setting the date, a
 * VM resumed from a snapshot): every `intervalMs` it compares how far the wall clock moved
 * with how far the monotonic clock moved. Timers run on the monotonic clock, so without this
 * a task due at a wall-clock time would run an hour late after a step forward; listeners
 * re-arm what they scheduled by wall-clock time. Imports nothing: the daemon logs the step.
 */
export interface ClockStep {
  /** Wall-clock jump beyond the time that passed: positive forward, negative back. */
  readonly offsetMs: number;
  /** Wall-clock time after the step. */
  readonly now: number;
}

export class ClockStepWatcher {
  private timer: NodeJS.Timeout | undefined;
  private lastWall: number;
  private lastMono: number;
  private readonly listeners: ((step: ClockStep) => void)[] = [];

  constructor(
    private readonly wall: () => number,
    private readonly intervalMs: number,
    private readonly thresholdMs: number,
    private readonly monotonic: () => number = () => performance.now(),
  ) {
    this.lastWall = wall();
    this.lastMono = monotonic();
  }

  onStep(listener: (step: ClockStep) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    this.lastWall = this.wall();
    this.lastMono = this.monotonic();
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Compares both clocks now; returns the step, if there was one (tests call it directly). */
  check(): ClockStep | undefined {
    const wall = this.wall();
    const mono = this.monotonic();
    const offsetMs = wall - this.lastWall - (mono - this.lastMono);
    this.lastWall = wall;
    this.lastMono = mono;
    if (Math.abs(offsetMs) < this.thresholdMs) return undefined;
    const step = { offsetMs, now: wall };
    for (const l of this.listeners) l(step);
    return step;
  }
}

/** A clock tests move by hand (for the DMS simulator's Inactive and PIN-overlap rules). */
export class ManualClock {
  constructor(private t = Date.now()) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** The real clock plus an offset a test changes: the wall clock stepping (NTP, an admin), while timers run on. */
export class SteppableClock {
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  step(ms: number): void {
    this.offset += ms;
  }
}

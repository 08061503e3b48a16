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

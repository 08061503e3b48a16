/**
 * Which phone fetched which firmware file from the relay, and when: the proof an upgrade came
 * from the cache. Bounded: the oldest entries go first, so 50,000 phones cost a few MB at most.
 */
export class FirmwareServeLog {
  private readonly last = new Map<string, number>();

  constructor(private readonly max = 100_000) {}

  record(ip: string, path: string, at: number): void {
    const key = `${ip} ${path}`;
    // Re-inserting moves the key to the end of the Map's order, so the first key is the oldest.
    this.last.delete(key);
    this.last.set(key, at);
    if (this.last.size > this.max) {
      const oldest = this.last.keys().next();
      if (!oldest.done) this.last.delete(oldest.value);
    }
  }

  servedSince(ip: string, path: string, since: number): boolean {
    const at = this.last.get(`${ip} ${path}`);
    return at !== undefined && at >= since;
  }
}

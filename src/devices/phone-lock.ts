/** The lock key of a phone: tasks and the monitor must use the same one for the lock to hold. */
export function phoneKey(t: { readonly ip: string; readonly port?: number | undefined }): string {
  return `${t.ip}:${t.port ?? 443}`;
}

/**
 * One command at a time per phone (device-protocols §1.5: one request in flight per phone).
 * Tasks and the monitor both go through it, so a status poll never interleaves with a reboot.
 * Holds an entry only while something runs or waits, so 50,000 idle phones cost nothing.
 */
export class PhoneLock {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

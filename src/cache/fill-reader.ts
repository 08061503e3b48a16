import { Readable } from 'node:stream';
import type { Fill } from './fill.js';

/**
 * Streams bytes [start, end] of an object while its fill is still writing it: reads what
 * has landed, then waits for the fill's next 'progress'. Backpressure is the stream's own:
 * nothing is read ahead of what the consumer takes.
 */
export class FillReadStream extends Readable {
  private pos: number;
  private busy = false;
  private waiting: (() => void) | undefined;

  constructor(
    private readonly fill: Fill,
    start: number,
    /** Inclusive; undefined = to the end of the object, whatever its size turns out to be. */
    private readonly end: number | undefined,
    private readonly chunkSize: number,
  ) {
    super({ highWaterMark: chunkSize });
    this.pos = start;
    fill.acquire();
  }

  override _read(): void {
    if (this.busy) return;
    this.busy = true;
    this.pump().catch((err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))));
  }

  private async pump(): Promise<void> {
    const fill = this.fill;
    for (;;) {
      if (this.destroyed) return;
      const stopAt = this.end !== undefined ? this.end + 1 : fill.state === 'done' ? fill.written : undefined;
      if (stopAt !== undefined && this.pos >= stopAt) {
        this.busy = false;
        this.push(null);
        return;
      }
      const limit = fill.readableLimit();
      if (this.pos < limit) {
        const want = Math.min(this.chunkSize, limit - this.pos, stopAt !== undefined ? stopAt - this.pos : Infinity);
        const buf = Buffer.allocUnsafe(want);
        const n = await fill.readAt(buf, this.pos);
        if (this.destroyed) return;
        if (n === 0) throw new Error('the object being filled could not be read');
        this.pos += n;
        if (!this.push(n === want ? buf : buf.subarray(0, n))) {
          this.busy = false;
          return;
        }
        continue;
      }
      if (fill.state === 'failed') throw fill.error ?? new Error('fill failed');
      if (fill.state === 'done') {
        // Object shorter than the range asked for: the headers promised more than exists.
        throw new Error('object ended before the requested range');
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          fill.off('progress', wake);
          fill.off('done', wake);
          fill.off('failed', wake);
          this.waiting = undefined;
          resolve();
        };
        this.waiting = wake;
        fill.on('progress', wake);
        fill.on('done', wake);
        fill.on('failed', wake);
      });
    }
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.waiting?.();
    this.fill.release();
    cb(err);
  }
}

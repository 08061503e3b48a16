import { close, open, read } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Fill } from './fill.js';

/**
 * Where a response body's bytes come from: a complete object file or a running fill.
 * `read` resolves with the bytes read at `pos`, waiting while a fill has not written them
 * yet; 0 means the object ends there.
 */
export interface ByteSource {
  read(buf: Buffer, pos: number): Promise<number>;
  close(): void;
}

/**
 * 64 KiB reads. Each connection holds one chunk in flight twice: the clear buffer until the
 * socket has taken it, and its encrypted copy, which Node's TLS makes of the whole write at
 * once. At 200 transfers 64 KiB peaks ~30 MB lower than 128 KiB for the same CPU per GB
 * (the TLS record work dominates either way); 32 KiB cost clearly more CPU (docs/footprint.md).
 */
export const SERVE_CHUNK = 64 * 1024;

/**
 * Serving buffers are recycled: a buffer goes back once the socket has taken its bytes (write
 * callback), so steady-state serving allocates nothing and the GC stays out of the data path.
 * The pool holds at most what the busiest moment needed, capped.
 */
const pool: Buffer[] = [];
const POOL_MAX = 512;
let takenSinceTrim = 0;
// After a burst the pool gives its memory back while idle: halved every 10 s nothing is served.
setInterval(() => {
  if (takenSinceTrim === 0 && pool.length > 0) pool.length = Math.floor(pool.length / 2);
  takenSinceTrim = 0;
}, 10_000).unref();

function takeBuffer(): Buffer {
  takenSinceTrim++;
  return pool.pop() ?? Buffer.allocUnsafeSlow(SERVE_CHUNK);
}

function giveBack(buf: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(buf);
}

export function fileSource(path: string): ByteSource {
  let fd: Promise<number> | undefined;
  let closed = false;
  const getFd = () =>
    (fd ??= new Promise<number>((resolve, reject) => {
      open(path, 'r', (err, n) => (err ? reject(err) : resolve(n)));
    }));
  return {
    read: (buf, pos) =>
      getFd().then(
        (n) =>
          new Promise<number>((resolve, reject) => {
            read(n, buf, 0, buf.length, pos, (err, bytes) => (err ? reject(err) : resolve(bytes)));
          }),
      ),
    close() {
      if (closed || !fd) return;
      closed = true;
      fd.then(
        (n) => close(n, () => undefined),
        () => undefined,
      );
    },
  };
}

export function fillSource(fill: Fill): ByteSource {
  fill.acquire();
  let released = false;
  // Wait for a full buffer's worth (or the end): followers at the write frontier then send
  // full-size chunks instead of one small write per upstream packet.
  const ready = (pos: number, want: number) => fill.state !== 'running' || fill.readableLimit() >= Math.min(pos + want, fill.size ?? Infinity);
  const waitFor = (pos: number, want: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        if (ready(pos, want)) {
          fill.off('progress', wake);
          fill.off('done', wake);
          fill.off('failed', wake);
          resolve();
        }
      };
      fill.on('progress', wake);
      fill.on('done', wake);
      fill.on('failed', wake);
    });
  return {
    async read(buf, pos) {
      if (!ready(pos, buf.length)) await waitFor(pos, buf.length);
      if (fill.readableLimit() <= pos) {
        if (fill.state === 'failed') throw fill.error ?? new Error('fill failed');
        return 0;
      }
      const n = Math.min(buf.length, fill.readableLimit() - pos);
      return fill.readAt(n === buf.length ? buf : buf.subarray(0, n), pos);
    },
    close() {
      if (released) return;
      released = true;
      fill.release();
    },
  };
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Writes bytes [start, end) of `src` (end undefined: until the source ends) with
 * backpressure. Any failure, or a source ending before `end`, destroys the response: the
 * client sees a cut transfer, never a short body presented as complete. Returns the bytes
 * handed to the socket.
 */
export async function sendBytes(res: ServerResponse, src: ByteSource, start: number, end: number | undefined): Promise<number> {
  let pos = start;
  try {
    while (end === undefined || pos < end) {
      if (res.destroyed) return pos - start;
      const buf = takeBuffer();
      const want = end === undefined ? SERVE_CHUNK : Math.min(SERVE_CHUNK, end - pos);
      let n: number;
      try {
        n = await src.read(want === SERVE_CHUNK ? buf : buf.subarray(0, want), pos);
      } catch (err) {
        giveBack(buf);
        throw err;
      }
      if (n === 0) {
        giveBack(buf);
        if (end === undefined) break;
        throw new Error(`object ended at byte ${pos}, before ${end}`);
      }
      pos += n;
      if (res.destroyed) {
        giveBack(buf);
        return pos - start;
      }
      const more = res.write(n === SERVE_CHUNK ? buf : buf.subarray(0, n), () => giveBack(buf));
      if (!more) await drained(res);
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    src.close();
  }
  return pos - start;
}

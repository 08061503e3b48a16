import { close, fstat, open, read } from 'node:fs';
import type { ServerResponse } from 'node:http';
import type { Fill } from './fill.js';

/**
 * Where a response body's bytes come from: a complete object file or a running fill.
 * `read` resolves with the bytes read at `pos`, waiting while a fill has not written them
 * yet; 0 means the object ends there.
 */
export interface ByteSource {
  read(buf: Buffer, pos: number): Promise<number>;
  /**
   * The SERVE_CHUNK bytes at `pos` (a multiple of SERVE_CHUNK; fewer at the end, none past
   * it) in a buffer that may be shared with other transfers of the same file and must not be
   * written to. Only sources of complete, immutable files have it.
   */
  readShared?(pos: number): Promise<Buffer>;
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

/**
 * Chunks of complete files recently read for one transfer, so that other transfers of the same
 * file at about the same place (phones told to update at once) send the same bytes instead of
 * reading them again: one read and one clear buffer per chunk for all of them, not one per
 * connection. Keyed by the file's identity (device, inode, mtime) and offset, so a file
 * replaced under the same name is never served from old chunks. The buffers are not pooled:
 * a chunk lives while a write or this window holds it, and the GC frees it after.
 */
const SHARED_MAX = 64;
const shared = new Map<string, Promise<Buffer>>();

function sharedChunk(key: string, load: () => Promise<Buffer>): Promise<Buffer> {
  let chunk = shared.get(key);
  if (chunk) {
    // Most recently used last: the window keeps what the slowest readers of a burst still need.
    shared.delete(key);
  } else {
    chunk = load();
    chunk.catch(() => shared.get(key) === chunk && shared.delete(key));
  }
  shared.set(key, chunk);
  if (shared.size > SHARED_MAX) shared.delete(shared.keys().next().value!);
  return chunk;
}

export function fileSource(path: string): ByteSource {
  let fd: Promise<number> | undefined;
  let identity: Promise<string> | undefined;
  let closed = false;
  const getFd = () =>
    (fd ??= new Promise<number>((resolve, reject) => {
      open(path, 'r', (err, n) => (err ? reject(err) : resolve(n)));
    }));
  const getIdentity = () =>
    (identity ??= getFd().then(
      (n) =>
        new Promise<string>((resolve, reject) => {
          fstat(n, (err, st) => (err ? reject(err) : resolve(`${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}`)));
        }),
    ));
  const readAt = (buf: Buffer, pos: number) =>
    getFd().then(
      (n) =>
        new Promise<number>((resolve, reject) => {
          read(n, buf, 0, buf.length, pos, (err, bytes) => (err ? reject(err) : resolve(bytes)));
        }),
    );
  return {
    readShared: (pos) =>
      getIdentity().then((id) =>
        sharedChunk(`${id}:${pos}`, async () => {
          const buf = Buffer.allocUnsafeSlow(SERVE_CHUNK);
          const n = await readAt(buf, pos);
          return n === SERVE_CHUNK ? buf : buf.subarray(0, n);
        }),
      ),
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
      if (src.readShared && pos % SERVE_CHUNK === 0) {
        const chunk = await src.readShared(pos);
        const n = end === undefined ? chunk.length : Math.min(chunk.length, end - pos);
        if (n === 0) {
          if (end === undefined) break;
          throw new Error(`object ended at byte ${pos}, before ${end}`);
        }
        pos += n;
        if (res.destroyed) return pos - start;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await drained(res);
        continue;
      }
      const buf = takeBuffer();
      // A range starting inside a chunk reads up to the next chunk boundary first, so that the
      // rest of the transfer can use shared chunks.
      const toBoundary = src.readShared ? SERVE_CHUNK - (pos % SERVE_CHUNK) : SERVE_CHUNK;
      const want = end === undefined ? toBoundary : Math.min(toBoundary, end - pos);
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

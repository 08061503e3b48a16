import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PhoneRequestContext, PhoneRoute } from '../core/phone-route.js';
import { DeviceError } from '../devices/errors.js';

/** Where a phone PUTs (or POSTs: the method is inferred) its capture on the relay's phone-facing port. */
export const CAPTURE_UPLOAD_PREFIX = '/relay/capture/';

interface Slot {
  readonly phoneIp: string;
  readonly file: string;
  readonly maxBytes: number;
  readonly resolve: (file: string) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * One-time upload paths on the relay's phone-facing port, so a phone's packet capture never
 * leaves the LAN except through the relay. A slot accepts one upload, from the phone it was
 * made for, up to a size bound, within a time limit; then the path is gone.
 */
export class CaptureInbox {
  private readonly slots = new Map<string, Slot>();

  constructor(private readonly dir: string) {}

  /** Opens a slot; `url` is what the phone is told, `file` resolves with the stored path. */
  async open(phoneIp: string, baseUrl: string, maxBytes: number, timeoutMs: number): Promise<{ url: string; file: Promise<string>; cancel(): void }> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const token = randomBytes(18).toString('base64url');
    const path = join(this.dir, `${token}.upload`);
    let resolve!: (f: string) => void;
    let reject!: (e: Error) => void;
    const file = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const timer = setTimeout(() => {
      this.slots.delete(token);
      reject(new DeviceError('UPLOAD_FAILED', `the phone ${phoneIp} did not upload its capture within ${Math.round(timeoutMs / 1000)} s`, { reached: true }));
    }, timeoutMs);
    timer.unref();
    this.slots.set(token, { phoneIp, file: path, maxBytes, resolve, reject, timer });
    return {
      url: `${baseUrl.replace(/\/+$/, '')}${CAPTURE_UPLOAD_PREFIX}${token}`,
      file,
      cancel: () => {
        clearTimeout(timer);
        this.slots.delete(token);
      },
    };
  }

  get pending(): number {
    return this.slots.size;
  }

  route(): PhoneRoute {
    return {
      name: 'capture-upload',
      matches: (method, path) => (method === 'PUT' || method === 'POST') && path.startsWith(CAPTURE_UPLOAD_PREFIX),
      handle: (req, res, ctx) => this.receive(req, res, ctx),
    };
  }

  private async receive(req: IncomingMessage, res: ServerResponse, ctx: PhoneRequestContext): Promise<void> {
    const token = ctx.path.slice(CAPTURE_UPLOAD_PREFIX.length);
    const slot = this.slots.get(token);
    if (!slot) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such upload slot (expired or already used)\n');
      return;
    }
    if (slot.phoneIp !== ctx.clientIp) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('this upload slot belongs to another phone\n');
      return;
    }
    this.slots.delete(token);
    clearTimeout(slot.timer);
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        cb(size > slot.maxBytes ? new DeviceError('UPLOAD_FAILED', `capture upload over ${slot.maxBytes} bytes`, { reached: true }) : null, chunk);
      },
    });
    try {
      await pipeline(req, limit, createWriteStream(slot.file, { mode: 0o600 }));
    } catch (err) {
      await rm(slot.file, { force: true });
      const e = err instanceof Error ? err : new Error(String(err));
      res.writeHead(size > slot.maxBytes ? 413 : 400, { 'content-type': 'text/plain' }).end(`${e.message}\n`);
      slot.reject(new DeviceError('UPLOAD_FAILED', `capture upload from ${ctx.clientIp} failed: ${e.message}`, { reached: true, cause: err }));
      return;
    }
    res.writeHead(201, { 'content-type': 'text/plain' }).end('stored\n');
    slot.resolve(slot.file);
  }

  close(): void {
    for (const s of this.slots.values()) {
      clearTimeout(s.timer);
      s.reject(new DeviceError('UPLOAD_FAILED', 'the relay is shutting down', { reached: true }));
    }
    this.slots.clear();
  }
}

import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DmsRoute } from './types.js';

/**
 * The DMS's image side (PROTOCOL 5): the catalogue at GET /api/v1/relays/{relayId}/images
 * and the image files at GET /api/v1/image-files/{imageId}, with generated deterministic
 * content, Range, an optional bandwidth cap and fault injection. Written from the protocol
 * text, sharing nothing with the relay's download code.
 */

export interface SimImageInput {
  readonly imageId: string;
  readonly size: number;
  readonly path?: string;
  readonly vendor?: string;
  readonly models?: readonly string[];
  readonly version?: string;
  /** Content seed; defaults to the imageId. */
  readonly seed?: string;
  /** Advertise this sha256 instead of the real one (a catalogue that lies). */
  readonly advertisedSha256?: string;
  /** Serve the file from another origin (absolute URL) instead of this simulator. */
  readonly url?: string;
}

export interface SimSyncWindow {
  readonly days: readonly string[];
  readonly start: string;
  readonly end: string;
  readonly notBefore?: string;
}

export interface ImageFault {
  /** Close the connection after sending the byte before this absolute offset. */
  readonly cutAtByte?: number;
  /** Flip the byte at this absolute offset. */
  readonly corruptAtByte?: number;
  /** How many file requests the fault applies to (default: all). */
  readonly times?: number;
}

export interface DmsImagesOptions {
  readonly images?: readonly SimImageInput[];
  /** Per-connection cap in bytes per second (undefined: as fast as possible). */
  readonly bytesPerSecond?: number;
  readonly syncWindow?: SimSyncWindow | null;
  readonly maxImages?: number;
  readonly maxBytes?: number;
}

const PATTERN_LEN = 1_048_573; // prime, so the pattern never lines up with power-of-two offsets

/**
 * A versioned image starts with this line, the way a real sip.ld carries its version in its
 * header: a simulated phone that installs it reads its new version from the bytes it got.
 */
export function firmwareHeader(version: string): Buffer {
  return Buffer.from(`#SIM-FIRMWARE version=${version}\n`, 'latin1');
}

class Content {
  readonly pattern: Buffer;
  readonly offset: number;
  private digest: string | undefined;

  constructor(
    readonly seed: string,
    readonly size: number,
    readonly header: Buffer = Buffer.alloc(0),
  ) {
    const out = Buffer.allocUnsafe(PATTERN_LEN + 32);
    for (let i = 0, block = 0; i < PATTERN_LEN; i += 32, block++) {
      createHash('sha256').update(`${seed}:${block}`).digest().copy(out, i);
    }
    this.pattern = out.subarray(0, PATTERN_LEN);
    this.offset = createHash('sha256').update(seed).digest().readUInt32BE(0) % PATTERN_LEN;
  }

  /** Bytes [start, end) as chunks of at most `chunk` bytes. */
  *chunks(start: number, end: number, chunk = 64 * 1024): Generator<Buffer> {
    let pos = start;
    const h = Math.min(this.header.length, this.size);
    if (pos < h) {
      const n = Math.min(h, end) - pos;
      if (n > 0) yield this.header.subarray(pos, pos + n);
      pos += Math.max(0, n);
    }
    while (pos < end) {
      const p = (pos + this.offset) % PATTERN_LEN;
      const n = Math.min(chunk, end - pos, PATTERN_LEN - p);
      yield this.pattern.subarray(p, p + n);
      pos += n;
    }
  }

  sha256(): string {
    if (this.digest === undefined) {
      const h = createHash('sha256');
      for (const c of this.chunks(0, this.size, 1024 * 1024)) h.update(c);
      this.digest = h.digest('hex');
    }
    return this.digest;
  }

  bytes(start = 0, end = this.size): Buffer {
    return Buffer.concat([...this.chunks(start, end)]);
  }
}

export class DmsImages {
  readonly routes: DmsRoute[];
  /** Requests seen, for tests: catalogue fetches and file requests per image. */
  readonly requests = { catalogue: 0, files: 0, perImage: new Map<string, number>(), ranges: [] as string[] };
  /** Body bytes sent per image (what an "upstream bytes" figure counts). */
  private readonly sentBytes = new Map<string, number>();
  private images: { input: SimImageInput; content: Content }[] = [];
  private readonly faults = new Map<string, { fault: ImageFault; left: number }>();
  private bytesPerSecond: number | undefined;
  private syncWindow: SimSyncWindow | null;
  private readonly limits: { maxImages: number; maxBytes: number };
  private readonly contents = new Map<string, Content>();

  constructor(opts: DmsImagesOptions = {}) {
    this.bytesPerSecond = opts.bytesPerSecond;
    this.syncWindow = opts.syncWindow ?? null;
    this.limits = { maxImages: opts.maxImages ?? 40, maxBytes: opts.maxBytes ?? 32_212_254_720 };
    this.setImages(opts.images ?? []);
    this.routes = [
      { method: 'GET', pattern: /^\/api\/v1\/relays\/([^/]+)\/images$/, auth: true, handle: (req, res, m, relayId) => this.catalogue(req, res, m, relayId) },
      { method: 'GET', pattern: /^\/api\/v1\/image-files\/([^/]+)$/, auth: true, handle: (req, res, m) => this.file(req, res, m) },
      { method: 'HEAD', pattern: /^\/api\/v1\/image-files\/([^/]+)$/, auth: true, handle: (req, res, m) => this.file(req, res, m) },
    ];
  }

  setImages(list: readonly SimImageInput[]): void {
    this.images = list.map((input) => ({ input, content: this.contentFor(input.seed ?? input.imageId, input.size, input.version) }));
  }

  setSyncWindow(w: SimSyncWindow | null): void {
    this.syncWindow = w;
  }

  setBandwidth(bytesPerSecond: number | undefined): void {
    this.bytesPerSecond = bytesPerSecond;
  }

  setFault(imageId: string, fault: ImageFault | undefined): void {
    if (fault === undefined) this.faults.delete(imageId);
    else this.faults.set(imageId, { fault, left: fault.times ?? Infinity });
  }

  /** The true sha256 of an image's content. */
  sha256(imageId: string): string {
    return this.find(imageId).content.sha256();
  }

  /** The image's bytes (for test comparisons; small images only). */
  bytes(imageId: string, start?: number, end?: number): Buffer {
    return this.find(imageId).content.bytes(start, end);
  }

  /** Generated content of any seed/size, e.g. to put the same bytes on another origin. */
  static contentBytes(seed: string, size: number): Buffer {
    return new Content(seed, size).bytes();
  }

  /**
   * Puts every image at its phone path on a provisioning server too (the DMS serves its
   * firmware there as well; the relay checks phone credentials against it), e.g.
   * `dms.publish((name, body) => prov.setFile(name, body))`.
   */
  publish(setFile: (name: string, body: Buffer) => void): void {
    for (const { input, content } of this.images) setFile((input.path ?? `/swupdate/${input.imageId}/sip.ld`).replace(/^\//, ''), content.bytes());
  }

  fileRequests(imageId: string): number {
    return this.requests.perImage.get(imageId) ?? 0;
  }

  /** Body bytes of the image's file sent so far (all requests, ranges included). */
  fileBytes(imageId: string): number {
    return this.sentBytes.get(imageId) ?? 0;
  }

  private contentFor(seed: string, size: number, version?: string): Content {
    const key = `${seed}\0${size}\0${version ?? ''}`;
    let c = this.contents.get(key);
    if (!c) {
      c = new Content(seed, size, version !== undefined ? firmwareHeader(version) : undefined);
      this.contents.set(key, c);
    }
    return c;
  }

  private find(imageId: string): { input: SimImageInput; content: Content } {
    const i = this.images.find((x) => x.input.imageId === imageId);
    if (!i) throw new Error(`no simulated image ${imageId}`);
    return i;
  }

  private catalogue(req: IncomingMessage, res: ServerResponse, m: RegExpExecArray, relayId: string | null): void {
    this.requests.catalogue++;
    if (relayId !== null && m[1] !== relayId) {
      json(res, 403, { error: 'forbidden' });
      return;
    }
    const host = req.headers.host ?? 'localhost';
    json(res, 200, {
      maxImages: this.limits.maxImages,
      maxBytes: this.limits.maxBytes,
      syncWindow: this.syncWindow,
      images: this.images.map(({ input, content }) => ({
        imageId: input.imageId,
        vendor: input.vendor ?? 'polycom',
        models: input.models ?? ['VVX 450'],
        version: input.version ?? '6.4.0',
        path: input.path ?? `/swupdate/${input.imageId}/sip.ld`,
        size: input.size,
        sha256: input.advertisedSha256 ?? content.sha256(),
        url: input.url ?? `https://${host}/api/v1/image-files/${encodeURIComponent(input.imageId)}`,
      })),
    });
  }

  private file(req: IncomingMessage, res: ServerResponse, m: RegExpExecArray): void {
    const id = decodeURIComponent(m[1] ?? '');
    const img = this.images.find((x) => x.input.imageId === id);
    if (req.method === 'GET') {
      this.requests.files++;
      this.requests.perImage.set(id, (this.requests.perImage.get(id) ?? 0) + 1);
    }
    if (!img) {
      json(res, 404, { error: 'not_found' });
      return;
    }
    const size = img.input.size;
    let start = 0;
    let end = size; // exclusive
    let status = 200;
    const range = req.headers.range;
    if (range !== undefined) {
      this.requests.ranges.push(range);
      const r = /^bytes=(\d*)-(\d*)$/.exec(range);
      if (r && (r[1] !== '' || r[2] !== '')) {
        if (r[1] === '') {
          start = Math.max(0, size - Number(r[2]));
        } else {
          start = Number(r[1]);
          if (r[2] !== '') end = Math.min(size, Number(r[2]) + 1);
        }
        if (start >= size || start >= end) {
          res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
          return;
        }
        status = 206;
      }
    }
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(end - start),
      'Accept-Ranges': 'bytes',
      ETag: `"${img.content.sha256()}"`,
    };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end - 1}/${size}`;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let fault: ImageFault | undefined;
    const f = this.faults.get(id);
    if (f && f.left > 0) {
      f.left--;
      fault = f.fault;
    }
    void this.stream(res, img.content, start, end, fault, (n) => this.sentBytes.set(id, (this.sentBytes.get(id) ?? 0) + n));
  }

  private async stream(res: ServerResponse, content: Content, start: number, end: number, fault: ImageFault | undefined, count: (n: number) => void): Promise<void> {
    const cut = fault?.cutAtByte !== undefined && fault.cutAtByte >= start && fault.cutAtByte < end ? fault.cutAtByte : undefined;
    const stopAt = cut ?? end;
    const began = Date.now();
    let sent = 0;
    for (const piece of content.chunks(start, stopAt, 64 * 1024)) {
      if (res.destroyed) return;
      let chunk = piece;
      const at = start + sent;
      const bad = fault?.corruptAtByte;
      if (bad !== undefined && bad >= at && bad < at + chunk.length) {
        chunk = Buffer.from(chunk);
        chunk[bad - at] = (chunk[bad - at] as number) ^ 0xff;
      }
      const ok = res.write(chunk);
      sent += chunk.length;
      count(chunk.length);
      if (!ok) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
      const bps = this.bytesPerSecond;
      if (bps !== undefined) {
        const due = began + (sent / bps) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
    if (cut !== undefined) {
      // Let the bytes before the cut reach the client, then drop the connection.
      await new Promise<void>((resolve) => (res.writableNeedDrain ? res.once('drain', resolve) : resolve()));
      res.socket?.destroy();
      return;
    }
    res.end();
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(text);
}

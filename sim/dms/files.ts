import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DmsRoute } from './types.js';

/** One stored upload, as the simulated DMS keeps it. */
export interface SimFile {
  readonly relayId: string;
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
  readonly contentType: string;
  readonly body: Buffer;
  readonly at: number;
}

export const MAX_UPLOAD_BYTES = 100 * 1024 * 1024;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * PROTOCOL §4 on the DMS simulator: `PUT /api/v1/relays/{relayId}/files/{name}` with the
 * relay's bearer token, at most 100 MB, answered `201 {name,size,sha256}`; the same name
 * overwrites. Attach with `sim.addRoutes(files.routes())`.
 */
export class DmsFiles {
  private readonly files = new Map<string, SimFile>();
  private readonly waiters = new Set<() => void>();

  routes(): DmsRoute[] {
    return [
      {
        method: 'PUT',
        pattern: /^\/api\/v1\/relays\/([^/]+)\/files\/([^/]+)$/,
        auth: true,
        handle: (req, res, m, relayId) => this.put(req, res, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), relayId),
      },
    ];
  }

  private async put(req: IncomingMessage, res: ServerResponse, pathRelay: string, name: string, relayId: string | null): Promise<void> {
    if (relayId !== pathRelay) return reply(res, 403, { error: 'forbidden', detail: 'the token belongs to another relay' });
    if (!NAME.test(name) || name.includes('..')) return reply(res, 400, { error: 'bad_name', detail: 'file names are letters, digits, dot, dash and underscore' });
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > MAX_UPLOAD_BYTES) {
      reply(res, 413, { error: 'too_large', detail: `at most ${MAX_UPLOAD_BYTES} bytes` });
      req.resume();
      return;
    }
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_UPLOAD_BYTES) {
        reply(res, 413, { error: 'too_large', detail: `at most ${MAX_UPLOAD_BYTES} bytes` });
        req.destroy();
        return;
      }
      hash.update(c);
      chunks.push(c);
    }
    const sha256 = hash.digest('hex');
    this.files.set(`${relayId}/${name}`, { relayId, name, size, sha256, contentType: String(req.headers['content-type'] ?? ''), body: Buffer.concat(chunks), at: Date.now() });
    reply(res, 201, { name, size, sha256 });
    for (const w of [...this.waiters]) w();
  }

  get(relayId: string, name: string): SimFile | undefined {
    return this.files.get(`${relayId}/${name}`);
  }

  list(relayId?: string): SimFile[] {
    return [...this.files.values()].filter((f) => relayId === undefined || f.relayId === relayId);
  }

  /** Resolves with the first stored file whose name matches, waiting up to `timeoutMs`. */
  waitFor(match: (f: SimFile) => boolean, timeoutMs = 10_000): Promise<SimFile> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = [...this.files.values()].find(match);
        if (!f) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(f);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching file uploaded within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }
}

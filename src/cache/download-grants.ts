import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PhoneRequestContext, PhoneRoute } from '../core/phone-route.js';
import type { Logger } from '../log.js';
import type { ImagesRepo } from '../store/images.js';
import { sendText } from '../http/responses.js';
import { fileSource } from './byte-source.js';
import type { FirmwareCache } from './firmware-cache.js';
import { sendRepresentation } from './serve.js';

/** Where phones fetch a granted image on the relay's phone-facing port. */
export const DOWNLOAD_GRANT_PREFIX = '/relay/dl/';

/** Grants alive at once; far above any fleet's concurrent deployments, it only bounds memory. */
const MAX_GRANTS = 100_000;

interface Grant {
  readonly phoneIp: string;
  readonly imagePath: string;
  readonly expiresAt: number;
  fetched: boolean;
}

/** What the driver holds while a phone deploys: the path to hand it, and whether it came. */
export interface IssuedGrant {
  /** Path on the phone port, `/relay/dl/<token>/<file name>`. */
  readonly path: string;
  /** Whether the phone has fetched the image through this grant (a GET began). */
  fetched(): boolean;
  /** Ends the grant now: later requests are refused as unknown. */
  revoke(): void;
}

/**
 * Per-phone, expiring, single-purpose download URLs for images in the cache. An OpenStage
 * phone deploying software sends no provisioning credentials, so the firmware route cannot
 * check it against the provisioning server; instead the driver hands the phone a random path
 * that serves one cached image, to that phone's address only, until it expires. The bytes come
 * from the cache only: a grant never starts an upstream fetch.
 */
export class DownloadGrants {
  private readonly grants = new Map<string, Grant>();

  constructor(
    private readonly o: {
      readonly cache: Pick<FirmwareCache, 'complete' | 'noteHit'>;
      readonly images: Pick<ImagesRepo, 'byPath'>;
      readonly log: Logger;
      readonly now: () => number;
    },
  ) {}

  /** A grant of the image at `imagePath` (a path of the desired set) to the phone at `phoneIp`. */
  grant(phoneIp: string, imagePath: string, ttlMs: number): IssuedGrant {
    const now = this.o.now();
    if (this.grants.size >= MAX_GRANTS) this.sweep(now);
    if (this.grants.size >= MAX_GRANTS) {
      const oldest = this.grants.keys().next();
      if (!oldest.done) this.grants.delete(oldest.value);
    }
    const token = randomBytes(18).toString('base64url');
    const g: Grant = { phoneIp, imagePath, expiresAt: now + ttlMs, fetched: false };
    this.grants.set(token, g);
    const name = encodeURIComponent(posix.basename(imagePath) || 'image');
    return { path: `${DOWNLOAD_GRANT_PREFIX}${token}/${name}`, fetched: () => g.fetched, revoke: () => void this.grants.delete(token) };
  }

  get active(): number {
    return this.grants.size;
  }

  route(): PhoneRoute {
    return {
      name: 'download-grant',
      matches: (method, path) => (method === 'GET' || method === 'HEAD') && path.startsWith(DOWNLOAD_GRANT_PREFIX),
      handle: (req, res, ctx) => this.serve(req, res, ctx),
    };
  }

  private sweep(now: number): void {
    for (const [k, g] of this.grants) if (g.expiresAt <= now) this.grants.delete(k);
  }

  private refuse(res: ServerResponse, ctx: PhoneRequestContext, status: number, code: string, text: string): void {
    this.o.log.warn({ ip: ctx.clientIp, code }, `download grant refused: ${text}`);
    sendText(res, status, `${code}: ${text}`);
  }

  private async serve(req: IncomingMessage, res: ServerResponse, ctx: PhoneRequestContext): Promise<void> {
    const token = ctx.path.slice(DOWNLOAD_GRANT_PREFIX.length).split('/')[0] ?? '';
    const g = this.grants.get(token);
    if (!g) return this.refuse(res, ctx, 404, 'DOWNLOAD_GRANT_UNKNOWN', 'no such download (never granted, revoked or its update is over)');
    if (this.o.now() >= g.expiresAt) {
      this.grants.delete(token);
      return this.refuse(res, ctx, 410, 'DOWNLOAD_GRANT_EXPIRED', 'this download URL has expired');
    }
    if (g.phoneIp !== ctx.clientIp) return this.refuse(res, ctx, 403, 'DOWNLOAD_GRANT_FOREIGN', 'this download URL was granted to another phone');
    const image = this.o.images.byPath(g.imagePath);
    const obj = image ? this.o.cache.complete(image.sha256) : undefined;
    if (!image || !obj) return this.refuse(res, ctx, 503, 'DOWNLOAD_GRANT_NOT_CACHED', `${g.imagePath} is no longer held verified in the cache`);
    if (req.method === 'GET') g.fetched = true;
    this.o.cache.noteHit(image.sha256);
    await sendRepresentation(req, res, { size: obj.size, etag: `"${image.sha256}"`, lastModified: new Date(obj.createdAt) }, () => fileSource(obj.path));
  }
}

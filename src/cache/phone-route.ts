import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FirmwareServeLog } from './serve-log.js';
import type { Logger } from '../log.js';
import type { PhoneRequestContext, PhoneRoute } from '../core/phone-route.js';
import type { RegistrationSource } from '../core/ports.js';
import type { CacheRepo } from '../store/cache.js';
import type { ImagesRepo } from '../store/images.js';
import type { AccessChecker } from './access.js';
import { provisioningTarget } from './access.js';
import { CacheError } from './errors.js';
import type { Fill, FillSource } from './fill.js';
import { fileSource, fillSource } from './byte-source.js';
import type { FirmwareCache } from './firmware-cache.js';
import type { PathMatcher } from './patterns.js';
import { sendRepresentation, sendWhole } from './serve.js';
import { sendText } from '../http/responses.js';

export interface FirmwareRouteDeps {
  readonly cache: FirmwareCache;
  readonly images: ImagesRepo;
  readonly cacheRepo: CacheRepo;
  readonly matcher: PathMatcher;
  readonly access: AccessChecker;
  readonly registration: RegistrationSource;
  /** Where and how to fetch an image URL (bearer token only on the DMS's origin). */
  readonly imageSource: (url: string) => FillSource;
  readonly log: Logger;
  /** Notes which phone was served which image (firmware updates check the phone fetched it here). */
  readonly served?: FirmwareServeLog;
}

function fillStatus(err: unknown): { status: number; text: string } {
  if (err instanceof CacheError) {
    if (err.upstreamStatus === 404) return { status: 404, text: 'not found' };
    if (err.code === 'CACHE_DISK_FULL' || err.code === 'CACHE_QUOTA') return { status: 507, text: `firmware cache cannot store this file (${err.code})` };
    if (err.code === 'CACHE_ABORTED') return { status: 503, text: 'relay is stopping' };
  }
  return { status: 502, text: 'firmware could not be fetched from the DMS' };
}

/**
 * Firmware on the phone-facing port: image paths of the desired set and paths matching
 * cache.firmwarePatterns, served from the cache after the DMS provisioning server has
 * accepted the phone's credentials.
 */
export function firmwareRoute(d: FirmwareRouteDeps): PhoneRoute {
  return {
    name: 'firmware-cache',
    matches(method, path) {
      if (method !== 'GET' && method !== 'HEAD') return false;
      return d.images.byPath(path) !== undefined || d.matcher.matches(path);
    },
    async handle(req: IncomingMessage, res: ServerResponse, ctx: PhoneRequestContext) {
      const reg = d.registration.current();
      if (!reg) {
        sendText(res, 503, 'relay is not registered with the DMS yet', { 'Retry-After': '30' });
        return;
      }
      const verdict = await d.access.check({
        provisioningUrl: reg.provisioningUrl,
        relayId: reg.relayId,
        path: ctx.path,
        method: req.method ?? 'GET',
        clientIp: ctx.clientIp,
        authorization: req.headers.authorization,
        userAgent: req.headers['user-agent'],
      });
      if (!verdict.ok) {
        d.log.info({ path: ctx.path, ip: ctx.clientIp, status: verdict.status, reason: verdict.reason }, 'firmware request refused');
        sendText(res, verdict.status, verdict.status === 502 ? 'cannot verify credentials with the DMS' : 'unauthorized', verdict.headers);
        return;
      }
      const image = d.images.byPath(ctx.path);
      if (image) {
        if (req.method === 'GET') d.served?.record(ctx.clientIp, ctx.path, Date.now());
        await serveKnown(req, res, d, image.sha256, image.size, () => d.cache.fillImage({ sha256: image.sha256, size: image.size, source: d.imageSource(image.url) }));
        return;
      }
      if (verdict.notFound) {
        // An on-demand path the provisioning server does not have: nothing to fetch.
        sendText(res, 404, 'not found');
        return;
      }
      const known = d.cacheRepo.patternPath(ctx.path);
      // A size the provisioning server just announced that differs from ours means the file
      // changed upstream (e.g. a new sip.ld at the same path): fetch it again.
      const changed = known !== undefined && verdict.size !== undefined && verdict.size !== known.size;
      if (changed) d.log.info({ path: ctx.path, cached: known.size, upstream: verdict.size }, 'firmware file changed upstream; fetching it again');
      if (known && !changed && d.cache.complete(known.sha256)) {
        await serveKnown(req, res, d, known.sha256, known.size, () => undefined);
        return;
      }
      const headers: Record<string, string> = { 'x-relay-id': reg.relayId };
      if (req.headers.authorization !== undefined) headers.authorization = req.headers.authorization;
      if (req.headers['user-agent'] !== undefined) headers['user-agent'] = req.headers['user-agent'];
      let fill: Fill;
      try {
        fill = d.cache.fillPath(ctx.path, { url: provisioningTarget(reg.provisioningUrl, ctx.path), headers });
      } catch (err) {
        const f = fillStatus(err);
        sendText(res, f.status, f.text);
        return;
      }
      d.cache.noteMiss();
      await serveFill(req, res, fill, undefined);
    },
  };
}

async function serveKnown(req: IncomingMessage, res: ServerResponse, d: FirmwareRouteDeps, sha256: string, size: number, startFill: () => Fill | undefined): Promise<void> {
  const obj = d.cache.complete(sha256);
  if (obj) {
    d.cache.noteHit(sha256);
    await sendRepresentation(req, res, { size: obj.size, etag: `"${sha256}"`, lastModified: new Date(obj.createdAt) }, () => fileSource(obj.path));
    return;
  }
  if (req.method === 'HEAD' && !d.cache.runningFill(sha256)) {
    // Size and hash are known from the catalogue: a HEAD does not need to start a download.
    await sendRepresentation(req, res, { size, etag: `"${sha256}"`, lastModified: new Date(d.images.catalogueFetchedAt() ?? Date.now()) }, () => {
      throw new Error('HEAD has no body');
    });
    return;
  }
  let fill: Fill | undefined;
  try {
    fill = startFill();
  } catch (err) {
    const f = fillStatus(err);
    sendText(res, f.status, f.text);
    return;
  }
  if (!fill) {
    // Completed between the two looks.
    await serveKnown(req, res, d, sha256, size, () => undefined);
    return;
  }
  d.cache.noteMiss();
  await serveFill(req, res, fill, { size, etag: `"${sha256}"` });
}

async function serveFill(req: IncomingMessage, res: ServerResponse, fill: Fill, known: { size: number; etag: string } | undefined): Promise<void> {
  if (fill.state === 'failed') {
    const f = fillStatus(fill.error);
    sendText(res, f.status, f.text);
    return;
  }
  // Hold a reference while waiting for the size, so the partial file stays open for us.
  fill.acquire();
  try {
    let size: number | undefined;
    try {
      // Waiting for the origin's answer lets a refused or failed fill become a clean error status.
      const learnt = await fill.headersKnown();
      size = known?.size ?? learnt;
    } catch (err) {
      const f = fillStatus(err);
      sendText(res, f.status, f.text);
      return;
    }
    const open = () => fillSource(fill);
    if (known) {
      await sendRepresentation(req, res, { size: known.size, etag: known.etag, lastModified: new Date(fill.startedAt) }, open);
    } else {
      // The hash is learnt only at the end: no validators, no ranges while filling.
      await sendWhole(req, res, size, open);
    }
  } finally {
    fill.release();
  }
}

import type { Dispatcher } from 'undici';
import { request } from '../core/undici.js';
import { z } from 'zod';
import { RelayError, errorMessage } from '../errors.js';
import { timeouts } from '../core/timeouts.js';

/** Hard limits of the relay (DESIGN): the DMS may ask for less, never for more. */
export const MAX_IMAGES = 40;
export const MAX_BYTES = 30 * 1024 ** 3;

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24 h)');
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

export const syncWindowSchema = z.object({
  days: z.array(z.enum(DAYS)).min(1),
  start: hhmm,
  end: hhmm,
  notBefore: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/, 'must be an ISO 8601 date-time')
    .nullish(),
});
export type SyncWindow = z.infer<typeof syncWindowSchema>;

const imageSchema = z.object({
  imageId: z.string().min(1).max(200),
  vendor: z.string().max(100).default(''),
  models: z.array(z.string().max(200)).max(1000).default([]),
  version: z.string().max(200).default(''),
  path: z
    .string()
    .max(1024)
    .regex(/^\/[^?#\s]*$/, 'must be an absolute path without query')
    .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), 'must not contain . or .. segments'),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  sha256: z
    .string()
    .regex(/^[a-fA-F0-9]{64}$/, 'must be 64 hex digits')
    .transform((s) => s.toLowerCase()),
  url: z.url({ protocol: /^https$/, error: 'must be an https:// URL' }),
});

export const catalogueSchema = z.object({
  maxImages: z.number().int().min(0).default(MAX_IMAGES),
  maxBytes: z.number().int().min(0).default(MAX_BYTES),
  syncWindow: syncWindowSchema.nullable().default(null),
  // Entries are validated one by one below, so one bad image does not sink the others.
  images: z.array(z.unknown()).max(10_000),
});

export type CatalogueImage = z.infer<typeof imageSchema>;

export interface Catalogue {
  readonly maxImages: number;
  readonly maxBytes: number;
  readonly syncWindow: SyncWindow | null;
  readonly images: CatalogueImage[];
  /** Entries that failed validation: imageId if readable, and why. */
  readonly invalid: { imageId: string | undefined; reason: string }[];
}

export class CatalogueError extends RelayError {}

function describe(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

export function parseCatalogue(body: unknown): Catalogue {
  const top = catalogueSchema.safeParse(body);
  if (!top.success) throw new CatalogueError('CATALOGUE_INVALID', `image catalogue is invalid: ${describe(top.error)}`);
  const images: CatalogueImage[] = [];
  const invalid: Catalogue['invalid'] = [];
  for (const raw of top.data.images) {
    const r = imageSchema.safeParse(raw);
    if (r.success) images.push(r.data);
    else {
      const id = typeof raw === 'object' && raw !== null && 'imageId' in raw && typeof raw.imageId === 'string' ? raw.imageId : undefined;
      invalid.push({ imageId: id, reason: `invalid catalogue entry: ${describe(r.error)}` });
    }
  }
  return { maxImages: top.data.maxImages, maxBytes: top.data.maxBytes, syncWindow: top.data.syncWindow, images, invalid };
}

export interface LimitedSet {
  readonly accepted: CatalogueImage[];
  readonly rejected: { image: CatalogueImage; reason: string }[];
}

/**
 * Applies the image and byte limits (the smaller of the DMS's and the relay's), in
 * catalogue order: an image that would exceed a limit is rejected and later, smaller ones
 * may still fit. Duplicate ids or paths are rejected too.
 */
export function applyLimits(cat: Catalogue): LimitedSet {
  const maxImages = Math.min(MAX_IMAGES, cat.maxImages);
  const maxBytes = Math.min(MAX_BYTES, cat.maxBytes);
  const accepted: CatalogueImage[] = [];
  const rejected: LimitedSet['rejected'] = [];
  const ids = new Set<string>();
  const paths = new Set<string>();
  let bytes = 0;
  for (const image of cat.images) {
    if (ids.has(image.imageId)) rejected.push({ image, reason: `duplicate imageId ${image.imageId} in the catalogue` });
    else if (paths.has(image.path)) rejected.push({ image, reason: `path ${image.path} is already used by another image` });
    else if (accepted.length >= maxImages) rejected.push({ image, reason: `over the limit of ${maxImages} images` });
    else if (bytes + image.size > maxBytes) rejected.push({ image, reason: `over the limit of ${maxBytes} bytes (${bytes} already selected, this image has ${image.size})` });
    else {
      accepted.push(image);
      bytes += image.size;
    }
    ids.add(image.imageId);
    paths.add(image.path);
  }
  return { accepted, rejected };
}

export function catalogueUrl(dmsUrl: string, relayId: string): string {
  return `${dmsUrl.replace(/\/+$/, '')}/api/v1/relays/${encodeURIComponent(relayId)}/images`;
}

export async function fetchCatalogue(dispatcher: Dispatcher, dmsUrl: string, relayId: string, token: string, timeoutMs: number = timeouts.imageCatalogue.ms): Promise<Catalogue> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(catalogueUrl(dmsUrl, relayId), {
      dispatcher,
      method: 'GET',
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
  } catch (err) {
    throw new CatalogueError('CATALOGUE_UNREACHABLE', `cannot fetch the image catalogue: ${errorMessage(err)}`, { cause: err });
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => undefined);
    throw new CatalogueError(res.statusCode === 401 ? 'CATALOGUE_UNAUTHORIZED' : 'CATALOGUE_HTTP', `image catalogue answered HTTP ${res.statusCode}`, {
      details: { status: res.statusCode },
    });
  }
  let body: unknown;
  try {
    body = await res.body.json();
  } catch (err) {
    throw new CatalogueError('CATALOGUE_INVALID', `image catalogue is not JSON: ${errorMessage(err)}`, { cause: err });
  }
  return parseCatalogue(body);
}

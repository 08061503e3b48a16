/**
 * What a driver needs to bring a phone to a cached firmware image: the image's facts and
 * whether the phone fetched it from the relay. Vendor-neutral; the cache and the download
 * agent provide it, drivers only read it.
 */

export interface FirmwareImage {
  readonly imageId: string;
  readonly version: string;
  /** Where phones ask the relay for it (PROTOCOL §5 `path`). */
  readonly path: string;
  /** The cache holds it, verified. */
  readonly synced: boolean;
}

export interface FirmwareCatalog {
  image(imageId: string): FirmwareImage | undefined;
  /** Whether the phone at `ip` was served `path` by the relay at or after `since` (ms). */
  servedSince(ip: string, path: string, since: number): boolean;
}

/** How long a driver waits for an upgrading phone, and how often it looks. */
export interface FirmwareWait {
  readonly pollMs: number;
  readonly timeoutMs: number;
}

/**
 * Whether a phone's reported firmware is the image's version. Phones report more than the
 * catalogue names: Polycom's application string is "6.4.0.1234" for image version "6.4.0".
 */
export function sameVersion(reported: string | undefined, version: string): boolean {
  if (!reported) return false;
  const r = reported.trim();
  return r === version || r.startsWith(`${version}.`) || r.startsWith(`${version} `);
}

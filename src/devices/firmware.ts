import type { CachedImage } from './driver.js';

/**
 * What a driver needs besides the image to bring a phone to it: how long to wait for the
 * phone, whether the relay served it the image, and when a reported version is the image's.
 */

/** Whether the phone at `ip` was served `path` by the relay at or after `since` (ms). */
export type FirmwareServed = (ip: string, path: string, since: number) => boolean;

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

/** A per-phone, expiring download URL of one cached image, as a phone is told to fetch it. */
export interface DownloadGrant {
  /** https://{fqdn}[:port]/relay/dl/<token>/<file name> */
  readonly url: string;
  /** Whether the phone fetched the image through this URL. */
  fetched(): boolean;
  revoke(): void;
}

/** Grants the phone at `ip` a download of `image` for `ttlMs`; undefined while the phone port is not bound. */
export type GrantDownload = (ip: string, image: CachedImage, ttlMs: number) => DownloadGrant | undefined;

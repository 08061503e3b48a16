import type { AddressInfo } from 'node:net';

/**
 * Every socket the relay listens on, for the status document: admins (and the demo) must be
 * able to find the phone port without reading the log. A new listener (e.g. the OpenStage
 * DLS port) adds its name here and its bound address in the daemon's `addresses`.
 */
export const LISTENERS = {
  https: { name: 'phone HTTPS', scheme: 'https', purpose: 'phones: provisioning, firmware, notifications' },
  dls: { name: 'OpenStage DLS', scheme: 'https', purpose: 'OpenStage phones: provisioning-service interactions after a contact-me' },
  admin: { name: 'admin', scheme: 'http', purpose: 'health, readiness, metrics, status (no authentication: keep it local)' },
} as const;

export type ListenerKey = keyof typeof LISTENERS;

export interface ListenerStatus {
  readonly name: string;
  /** Where it is bound, e.g. `https://127.0.0.1:8443` (the bound port, not the configured 0). */
  readonly url: string;
  readonly purpose: string;
}

export function listenersSection(addresses: Partial<Record<ListenerKey, AddressInfo>>): ListenerStatus[] {
  const out: ListenerStatus[] = [];
  for (const [key, info] of Object.entries(LISTENERS) as [ListenerKey, (typeof LISTENERS)[ListenerKey]][]) {
    const a = addresses[key];
    if (!a) continue;
    const host = a.family === 'IPv6' || a.address.includes(':') ? `[${a.address}]` : a.address;
    out.push({ name: info.name, url: `${info.scheme}://${host}:${a.port}`, purpose: info.purpose });
  }
  return out;
}

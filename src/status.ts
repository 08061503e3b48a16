/**
 * What the heartbeat, readiness, `cloud-relay status` and metrics report about each part.
 * Each part fills its own getter in the composition root; a part not built yet reports zeros.
 */
export interface CertStatus {
  subject: string;
  sans: string[];
  notAfter: string;
  valid: boolean;
  selfSigned?: boolean;
  problems?: string[];
}

export interface StatusSources {
  cert?: () => CertStatus | null;
  cache?: () => { bytes: number; objects: number; hits: number; misses: number };
  images?: () => { synced: number; syncing: number; failed: number };
  devices?: () => { known: number; online: number };
  tasks?: () => { scheduled: number; running: number };
}

export function zeroStatus(sources: StatusSources) {
  return {
    cert: sources.cert?.() ?? null,
    cache: sources.cache?.() ?? { bytes: 0, objects: 0, hits: 0, misses: 0 },
    images: sources.images?.() ?? { synced: 0, syncing: 0, failed: 0 },
    devices: sources.devices?.() ?? { known: 0, online: 0 },
    tasks: sources.tasks?.() ?? { scheduled: 0, running: 0 },
  };
}

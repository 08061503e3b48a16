import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentTuning } from '../../src/management-agent/tuning.js';

/** Short timings so tests exercise every path in well under a second or two. */
export const FAST_TUNING: Partial<AgentTuning> = {
  authRetryBaseMs: 200,
  authRetryCapMs: 1_000,
  licenseRetryMs: 1_000,
  transientRetryBaseMs: 100,
  transientRetryCapMs: 1_000,
  heartbeatMinIntervalMs: 100,
  pingIntervalMs: 500,
  reconnectBaseMs: 50,
  reconnectCapMs: 500,
  stableAfterMs: 2_000,
  handshakeTimeoutMs: 3_000,
  ackTimeoutMs: 3_000,
  httpTimeoutMs: 5_000,
  closeTimeoutMs: 500,
};

export function tempDir(prefix = 'cr-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface RelayConfigFileOptions {
  dmsUrl: string;
  caPem: string;
  tenantId?: string;
  pin?: string;
  dataDir: string;
  extra?: Record<string, unknown>;
}

/** Writes a relay config (and the DMS CA file it points at) into `dir`; returns the config path. */
export function writeRelayConfig(dir: string, o: RelayConfigFileOptions): string {
  const caFile = join(dir, 'dms-ca.pem');
  writeFileSync(caFile, o.caPem);
  const cfg = {
    dmsUrl: o.dmsUrl,
    dmsCaFile: caFile,
    tenantId: o.tenantId ?? 't-4711',
    pin: o.pin ?? '493027',
    fqdn: 'relay.test.example',
    dataDir: o.dataDir,
    httpsListen: '127.0.0.1:0',
    adminListen: '127.0.0.1:0',
    openstage: { dlsListen: '127.0.0.1:0' },
    logLevel: 'debug',
    shutdownGraceSeconds: 5,
    ...(o.extra ?? {}),
  };
  const file = join(dir, 'relay.json');
  writeFileSync(file, JSON.stringify(cfg, null, 2));
  return file;
}

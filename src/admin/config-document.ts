import { readlinkSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import type { RelayConfig } from '../config/schema.js';
import { effectiveSettings } from '../config/load.js';

/**
 * `GET /config` on the admin port: the running relay's effective configuration (secrets
 * redacted, each value with its origin), its data directory and where it writes its log.
 * The CLI reads it so that `config`, `diag`, `ip` and `devices` work against a relay
 * configured in code or by an environment the admin's shell does not have.
 * Nothing secret is in it: the admin port has no authentication.
 */
export const configDocumentSchema = z.object({
  pid: z.number().int(),
  dataDir: z.string().min(1),
  cacheDir: z.string().min(1),
  log: z.discriminatedUnion('to', [z.object({ to: z.literal('file'), file: z.string().min(1) }), z.object({ to: z.literal('journal') }), z.object({ to: z.literal('stdout') })]),
  settings: z.array(z.object({ path: z.string(), value: z.unknown().optional(), source: z.string() })),
});

export type ConfigDocument = z.infer<typeof configDocumentSchema>;
export type LogDestination = ConfigDocument['log'];

export interface ConfigDocumentInputs {
  readonly config: RelayConfig;
  /** The tenant ID stored by `cloud-relay register`, if any: it and its PIN win over the config's. */
  readonly storedTenantId: () => string | undefined;
  readonly env?: NodeJS.ProcessEnv;
}

/** The file stdout is redirected to (`cloud-relay start >> relay.log`), on Linux; undefined for a pipe, terminal or socket. */
function stdoutRedirectedTo(): string | undefined {
  try {
    const target = readlinkSync('/proc/self/fd/1');
    return isAbsolute(target) && statSync(target).isFile() ? target : undefined;
  } catch {
    return undefined;
  }
}

export function configDocument(inputs: ConfigDocumentInputs): ConfigDocument {
  const env = inputs.env ?? process.env;
  const storedTenant = inputs.storedTenantId();
  const settings = effectiveSettings(inputs.config).map((s) =>
    storedTenant !== undefined && (s.path === 'tenantId' || s.path === 'pin')
      ? { ...s, value: s.path === 'pin' ? '[redacted]' : storedTenant, source: 'data directory (stored by `cloud-relay register`, wins over the config)' }
      : s,
  );
  // systemd sets JOURNAL_STREAM when stdout is connected to the journal.
  const stdoutFile = env.JOURNAL_STREAM ? undefined : stdoutRedirectedTo();
  const log: LogDestination = stdoutFile ? { to: 'file', file: stdoutFile } : env.JOURNAL_STREAM ? { to: 'journal' } : { to: 'stdout' };
  return { pid: process.pid, dataDir: inputs.config.dataDir, cacheDir: inputs.config.cacheDir, log, settings };
}

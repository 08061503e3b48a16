import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { configOrExit } from './common.js';
import { ExitCode } from '../errors.js';
import { DB_FILE } from '../store/db.js';

/**
 * The relay's data directory for commands that work on its files directly (the daemon need
 * not run): --data-dir, else the config file's dataDir, else CLOUD_RELAY_DATA_DIR, else the default.
 */
export function resolveDataDir(values: { 'data-dir'?: string | undefined; config?: string | undefined }): string | number {
  if (values['data-dir']) return values['data-dir'];
  if (values.config || process.env.CLOUD_RELAY_CONFIG) {
    const cfg = configOrExit(values.config);
    if (typeof cfg === 'number') return cfg;
    return cfg.dataDir;
  }
  return process.env.CLOUD_RELAY_DATA_DIR ?? '/var/lib/cloud-relay';
}

/** The data dir if it holds a relay database (so a typo does not create an empty one). */
export function existingDbDir(values: { 'data-dir'?: string | undefined; config?: string | undefined }): string | number {
  const dir = resolveDataDir(values);
  if (typeof dir === 'number') return dir;
  if (!existsSync(join(dir, DB_FILE))) {
    console.error(`cloud-relay: no relay database in ${dir} (use --data-dir or --config)`);
    return ExitCode.CONFIG;
  }
  return dir;
}

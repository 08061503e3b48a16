import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { adminBaseFromArgs, configOrExit, fetchRelayConfig } from './common.js';
import { ExitCode } from '../errors.js';
import { DB_FILE } from '../store/db.js';

export interface DataDirOptions {
  'data-dir'?: string | undefined;
  config?: string | undefined;
  admin?: string | undefined;
}

/** A data directory and how it was chosen (said in errors, so a wrong guess is obvious). */
export interface DataDirChoice {
  readonly dir: string;
  readonly from: string;
}

export const DATA_DIR_OPTION_HELP =
  "  --data-dir DIR    the relay's data directory (default: --config's dataDir, else $CLOUD_RELAY_DATA_DIR,\n" +
  '                    else the one the relay answering on the admin port uses, else /var/lib/cloud-relay)\n' +
  '  --admin HOST:PORT admin address of a running relay to ask for its data directory (default: from config, else 127.0.0.1:9090)';

/**
 * The relay's data directory for commands that work on its files directly (the daemon need
 * not run): --data-dir, else the config file's dataDir, else CLOUD_RELAY_DATA_DIR, else the
 * one a relay answering on the admin port reports (it may be configured in code or by an
 * environment this shell lacks, as the demo is), else the default.
 */
export async function resolveDataDir(values: DataDirOptions): Promise<DataDirChoice | number> {
  if (values['data-dir']) return { dir: values['data-dir'], from: '--data-dir' };
  if (values.config || process.env.CLOUD_RELAY_CONFIG) {
    const cfg = configOrExit(values.config);
    if (typeof cfg === 'number') return cfg;
    return { dir: cfg.dataDir, from: `dataDir of ${values.config ?? process.env.CLOUD_RELAY_CONFIG ?? 'the config'}` };
  }
  if (process.env.CLOUD_RELAY_DATA_DIR) return { dir: process.env.CLOUD_RELAY_DATA_DIR, from: 'CLOUD_RELAY_DATA_DIR' };
  const base = adminBaseFromArgs(values);
  if (typeof base === 'number') return base;
  const answer = await fetchRelayConfig(base);
  if (answer.ok) return { dir: answer.doc.dataDir, from: `the relay answering at ${base}` };
  return { dir: '/var/lib/cloud-relay', from: `the default; ${answer.why}` };
}

/**
 * The data dir if it holds a relay database (so a typo does not create an empty one).
 * A missing database is a missing input, not a configuration error: EX_NOINPUT (66).
 */
export async function existingDbDir(values: DataDirOptions): Promise<string | number> {
  const choice = await resolveDataDir(values);
  if (typeof choice === 'number') return choice;
  if (!existsSync(join(choice.dir, DB_FILE))) {
    console.error(
      `cloud-relay: no relay database in ${choice.dir} (from ${choice.from}).\n` +
        "Pass the relay's data directory with --data-dir DIR or its config with --config FILE, " +
        'or --admin HOST:PORT of the running relay to ask it.',
    );
    return ExitCode.NO_INPUT;
  }
  return choice.dir;
}

/** The options every command that works on the relay's database takes. */
export const STORE_COMMAND_OPTIONS = { config: { type: 'string' }, 'data-dir': { type: 'string' }, admin: { type: 'string' }, json: { type: 'boolean' } } as const;

/**
 * Parses a database command's arguments and checks its subcommand against `subs`; a usage
 * error is printed here and returned as EX_USAGE, so each command reads only its own logic.
 */
export function parseStoreCommand<S extends string>(
  name: string,
  args: readonly string[],
  subs: readonly S[],
  usage: string,
): { values: DataDirOptions & { json?: boolean | undefined }; sub: S; rest: string[] } | number {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: STORE_COMMAND_OPTIONS });
  const [sub, ...rest] = positionals;
  if (!subs.includes(sub as S)) {
    console.error(`cloud-relay ${name}: expected ${subs.slice(0, -1).join(', ')}${subs.length > 1 ? ' or ' : ''}${subs.at(-1) ?? ''}\nUsage: ${usage}`);
    return ExitCode.USAGE;
  }
  return { values, sub: sub as S, rest };
}

/**
 * The secrets key file the relay uses, when a config names one; otherwise the default next to
 * the data directory applies. Every command that opens the database must use the same key.
 */
export function secretsKeyFileOf(values: DataDirOptions): string | undefined | number {
  if (!values.config && !process.env.CLOUD_RELAY_CONFIG) return undefined;
  const cfg = configOrExit(values.config);
  return typeof cfg === 'number' ? cfg : cfg.secretsKeyFile;
}

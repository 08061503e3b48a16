import { isIP } from 'node:net';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { DATA_DIR_OPTION_HELP, existingDbDir, parseStoreCommand, secretsKeyFileOf } from './data-dir.js';
import { ExitCode } from '../errors.js';
import { openDb } from '../store/db.js';
import { IpGuardStore, type IpGuardRow } from '../store/ip-guard.js';
import { stateOf } from '../http/ip-guard.js';
import { clientIpOf } from '../http/forward-headers.js';

const USAGE = `cloud-relay ip list [--json]
       cloud-relay ip check IP
       cloud-relay ip unban IP
${CONFIG_OPTION_HELP}
${DATA_DIR_OPTION_HELP}

Works on the relay database directly; the daemon need not run (a running one sees changes at once).
check exits 0 when the IP may connect, 1 when it is banned or blacklisted.`;

function iso(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString();
}

function describe(row: IpGuardRow, now: number): string {
  const state = stateOf(row, now);
  const parts = [`${row.ip.padEnd(40)} ${state.padEnd(12)}`];
  if (state === 'banned') parts.push(`until ${iso(row.bannedUntil)}`);
  if (state === 'blacklisted') parts.push(`since ${iso(row.blacklistedAt)}`);
  if (row.whitelistedAt !== null) parts.push(`trusted since ${iso(row.whitelistedAt)}`);
  if (row.banCount > 0) parts.push(`bans ${row.banCount}`);
  if (row.failures > 0) parts.push(`failures ${row.failures}`);
  if (row.lastFailure) parts.push(`last failure ${iso(row.lastFailureAt)} (${row.lastFailure})`);
  return parts.join('  ');
}

function normaliseIp(text: string | undefined): string | undefined {
  if (!text) return undefined;
  // The guard records IPv4-mapped peers as dotted IPv4: look them up the same way.
  const ip = clientIpOf(text);
  return isIP(ip) ? ip : undefined;
}

export const command: CliCommand = {
  name: 'ip',
  summary: 'list, check and unban phone source IPs (IP guard)',
  usage: USAGE,
  async run(args) {
    const parsed = parseStoreCommand('ip', args, ['list', 'check', 'unban'] as const, USAGE);
    if (typeof parsed === 'number') return parsed;
    const { values, sub } = parsed;
    const [arg] = parsed.rest;
    const ip = normaliseIp(arg);
    if (sub !== 'list' && !ip) {
      console.error(`cloud-relay ip ${sub}: "${arg ?? ''}" is not an IP address`);
      return ExitCode.USAGE;
    }
    const dir = await existingDbDir(values);
    if (typeof dir === 'number') return dir;
    const keyFile = secretsKeyFileOf(values);
    if (typeof keyFile === 'number') return keyFile;
    const db = openDb(dir, { secretsKeyFile: keyFile });
    try {
      const store = new IpGuardStore(db);
      const now = Date.now();
      if (sub === 'list') {
        const rows = store.list();
        if (values.json)
          console.log(
            JSON.stringify(
              rows.map((r) => ({ ...r, state: stateOf(r, now) })),
              null,
              2,
            ),
          );
        else if (rows.length === 0) console.log('no IPs recorded');
        else console.log(rows.map((r) => describe(r, now)).join('\n'));
        return ExitCode.OK;
      }
      const row = store.get(ip!);
      if (sub === 'check') {
        const state = stateOf(row, now);
        console.log(row ? describe(row, now) : `${ip!.padEnd(40)} unknown`);
        return state === 'banned' || state === 'blacklisted' ? ExitCode.FAILURE : ExitCode.OK;
      }
      const before = stateOf(row, now);
      if (!store.unban(ip!)) {
        console.error(`cloud-relay ip unban: ${ip!} is not known to the IP guard`);
        return ExitCode.FAILURE;
      }
      console.log(
        before === 'banned' || before === 'blacklisted' ? `${ip!}: ${before} → allowed (failures and ban history cleared)` : `${ip!} was not banned; its failures were cleared`,
      );
      return ExitCode.OK;
    } finally {
      db.close();
    }
  },
};

import { parseArgs } from 'node:util';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { adminBase, adminGet, configOrExit } from './common.js';
import { ExitCode, errorMessage } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { parseListen } from '../config/listen.js';

function row(label: string, value: unknown): string {
  const text = value === null || value === undefined ? '-' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return `${label.padEnd(16)} ${text}`;
}

export const command: CliCommand = {
  name: 'status',
  summary: 'show the running relay\'s state (from its admin port)',
  usage: `cloud-relay status [--config FILE] [--admin HOST:PORT] [--json]\n${CONFIG_OPTION_HELP}\n  --admin HOST:PORT admin address of the running relay (default: from config, else 127.0.0.1:9090)\n  --json            print the raw status document`,
  async run(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string' }, admin: { type: 'string' }, json: { type: 'boolean' } } });
    let base: string;
    if (values.admin) {
      const a = parseListen(values.admin);
      if (typeof a === 'string') {
        console.error(`cloud-relay: --admin: ${a}`);
        return ExitCode.USAGE;
      }
      base = adminBase({ adminListen: a });
    } else if (values.config || process.env.CLOUD_RELAY_CONFIG) {
      const cfg = configOrExit(values.config);
      if (typeof cfg === 'number') return cfg;
      base = adminBase(cfg);
    } else {
      let listen = { host: '127.0.0.1', port: 9090 };
      try {
        listen = loadConfig().adminListen;
      } catch {
        // no usable config here: the default admin address is the best guess
      }
      base = adminBase({ adminListen: listen });
    }
    let doc: unknown;
    try {
      doc = (await adminGet(base, '/status')).body;
    } catch (err) {
      console.error(`cloud-relay: no relay answers at ${base}: ${errorMessage(err)}`);
      return ExitCode.UNAVAILABLE;
    }
    if (values.json) {
      console.log(JSON.stringify(doc, null, 2));
      return ExitCode.OK;
    }
    if (typeof doc !== 'object' || doc === null) {
      console.error('cloud-relay: the admin port answered something that is not a status document');
      return ExitCode.SOFTWARE;
    }
    const d = doc as Record<string, unknown>;
    const readiness = d.readiness as { ready?: boolean; checks?: { name: string; ok: boolean; detail?: string }[] } | undefined;
    const lines = [row('version', d.version), row('uptime', `${String(d.uptimeSeconds)} s`), row('ready', readiness?.ready ? 'yes' : 'NO')];
    for (const c of readiness?.checks ?? []) lines.push(row(`  ${c.name}`, c.ok ? 'ok' : `FAIL ${c.detail ?? ''}`));
    for (const [k, v] of Object.entries(d)) {
      if (['version', 'uptimeSeconds', 'readiness', 'startedAt'].includes(k)) continue;
      lines.push(row(k, v));
    }
    console.log(lines.join('\n'));
    return readiness?.ready ? ExitCode.OK : ExitCode.UNAVAILABLE;
  },
};

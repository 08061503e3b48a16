import { parseArgs } from 'node:util';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { adminBase, adminGet, configOrExit } from './common.js';
import { ExitCode, errorMessage } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { parseListen } from '../config/listen.js';
import { formatStatus } from './status-format.js';

export const command: CliCommand = {
  name: 'status',
  summary: 'show the running relay\'s state (from its admin port)',
  usage: `cloud-relay status [--config FILE] [--admin HOST:PORT] [--json]\n${CONFIG_OPTION_HELP}\n  --admin HOST:PORT admin address of the running relay (default: from config, else 127.0.0.1:9090)\n  --json            print the raw status document\n\nExit codes (also with --json): 0 ready, 69 not ready or no relay answering, 70 not a status document, 78 bad config.`,
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
    if (typeof doc !== 'object' || doc === null) {
      console.error('cloud-relay: the admin port answered something that is not a status document');
      return ExitCode.SOFTWARE;
    }
    const d = doc as Record<string, unknown>;
    // The same exit code with and without --json, so scripts can branch on readiness alone.
    const ready = typeof d.readiness === 'object' && d.readiness !== null && 'ready' in d.readiness && d.readiness.ready === true;
    console.log(values.json ? JSON.stringify(d, null, 2) : formatStatus(d));
    return ready ? ExitCode.OK : ExitCode.UNAVAILABLE;
  },
};

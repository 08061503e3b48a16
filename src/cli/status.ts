import { parseArgs } from 'node:util';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { adminBaseFromArgs, adminGet } from './common.js';
import { ExitCode, errorMessage } from '../errors.js';
import { formatStatus } from './status-format.js';
import { readinessSchema } from '../core/status.js';

export const command: CliCommand = {
  name: 'status',
  summary: "show the running relay's state (from its admin port)",
  usage: `cloud-relay status [--config FILE] [--admin HOST:PORT] [--json]\n${CONFIG_OPTION_HELP}\n  --admin HOST:PORT admin address of the running relay (default: from config, else 127.0.0.1:9090)\n  --json            print the raw status document\n\nExit codes (also with --json): 0 ready, 69 not ready or no relay answering, 70 not a status document, 75 draining (shutting down after SIGTERM), 78 bad config.`,
  async run(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string' }, admin: { type: 'string' }, json: { type: 'boolean' } } });
    const base = adminBaseFromArgs(values);
    if (typeof base === 'number') return base;
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
    const ready = readinessSchema.safeParse(d.readiness).data?.ready === true;
    console.log(values.json ? JSON.stringify(d, null, 2) : formatStatus(d));
    // Draining is not ready either, but it says "going away, try another relay" (EX_TEMPFAIL).
    if (d.draining === true) return ExitCode.TEMP_FAIL;
    return ready ? ExitCode.OK : ExitCode.UNAVAILABLE;
  },
};

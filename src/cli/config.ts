import { parseArgs } from 'node:util';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { configOrExit } from './common.js';
import { redactedConfig } from '../config/load.js';
import { allSettings } from '../config/settings.js';
import { ExitCode } from '../errors.js';

export const command: CliCommand = {
  name: 'config',
  summary: 'print the effective configuration (secrets redacted) or list every setting',
  usage: `cloud-relay config [--config FILE] [--list]\n${CONFIG_OPTION_HELP}\n  --list            list every setting with its environment variable and default`,
  async run(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string' }, list: { type: 'boolean' } } });
    if (values.list) {
      for (const s of allSettings()) {
        const def = s.defaultValue === undefined ? '' : ` (default ${JSON.stringify(s.defaultValue)})`;
        console.log(`${s.path.padEnd(30)} ${s.env.padEnd(42)} ${s.description}${def}`);
      }
      return ExitCode.OK;
    }
    const cfg = configOrExit(values.config);
    if (typeof cfg === 'number') return cfg;
    console.log(JSON.stringify(redactedConfig(cfg), null, 2));
    return ExitCode.OK;
  },
};

import { parseArgs } from 'node:util';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { adminBaseFromArgs, configOrExit, fetchRelayConfig } from './common.js';
import { effectiveSettings, type EffectiveSetting } from '../config/load.js';
import { allSettings } from '../config/settings.js';
import { ExitCode } from '../errors.js';

function shown(v: unknown): string {
  if (v === undefined || v === null) return '-';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** One line per setting: path, value (secrets redacted), where it came from. */
export function formatSettings(settings: readonly EffectiveSetting[]): string {
  const pathWidth = Math.max(...settings.map((s) => s.path.length));
  const valueWidth = Math.min(48, Math.max(...settings.map((s) => shown(s.value).length)));
  const head = `${'setting'.padEnd(pathWidth)}  ${'value'.padEnd(valueWidth)}  from`;
  return [head, ...settings.map((s) => `${s.path.padEnd(pathWidth)}  ${shown(s.value).padEnd(valueWidth)}  ${s.source}`)].join('\n');
}

export const command: CliCommand = {
  name: 'config',
  summary: 'print the effective configuration (secrets redacted) and where each value came from, or list every setting',
  usage:
    `cloud-relay config [--config FILE] [--admin HOST:PORT] [--json] [--list]\n${CONFIG_OPTION_HELP}\n` +
    '  --admin HOST:PORT admin address of the running relay (default: from config, else 127.0.0.1:9090)\n' +
    '  --json            print it as JSON\n' +
    '  --list            list every setting with its environment variable and default\n\n' +
    'Without --config: the configuration of the relay answering on the admin port (it may come\n' +
    'from a file, the environment of its service, or code), else the one `cloud-relay start`\n' +
    'would use in this shell. With --config FILE: what `cloud-relay start --config FILE` would use.\n' +
    'Sources: default, file PATH, environment VAR, command line, code, data directory (register).\n' +
    'Exit codes: 0 ok, 64 bad usage, 78 the configuration has problems (each listed).',
  async run(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string' }, admin: { type: 'string' }, json: { type: 'boolean' }, list: { type: 'boolean' } } });
    if (values.list) {
      for (const s of allSettings()) {
        const def = s.defaultValue === undefined ? '' : ` (default ${JSON.stringify(s.defaultValue)})`;
        console.log(`${s.path.padEnd(30)} ${s.env.padEnd(42)} ${s.description}${def}`);
      }
      return ExitCode.OK;
    }
    let noRelay = '';
    if (!values.config) {
      const base = adminBaseFromArgs(values);
      if (typeof base === 'number') return base;
      const answer = await fetchRelayConfig(base);
      if (answer.ok) {
        const d = answer.doc;
        if (values.json) console.log(JSON.stringify({ from: `the relay answering at ${base}`, ...d }, null, 2));
        else {
          const log = d.log.to === 'file' ? `log file ${d.log.file}` : d.log.to === 'journal' ? 'logs to the journal' : 'logs to its stdout';
          console.log(`Effective configuration of the relay answering at ${base} (pid ${d.pid}, ${log}; secrets redacted)\n`);
          console.log(formatSettings(d.settings));
        }
        return ExitCode.OK;
      }
      noRelay = answer.why;
    }
    const cfg = configOrExit(values.config);
    if (typeof cfg === 'number') {
      if (noRelay) console.error(`cloud-relay: (${noRelay}, so this is the configuration of this shell)`);
      return cfg;
    }
    const settings = effectiveSettings(cfg);
    const what = values.config ? `\`cloud-relay start --config ${values.config}\`` : '`cloud-relay start`';
    if (values.json) console.log(JSON.stringify({ from: `what ${what} would use here`, dataDir: cfg.dataDir, cacheDir: cfg.cacheDir, settings }, null, 2));
    else {
      console.log(`${noRelay ? `${noRelay}.\n` : ''}Configuration ${what} would use here (secrets redacted)\n`);
      console.log(formatSettings(settings));
    }
    return ExitCode.OK;
  },
};

import { parseArgs } from 'node:util';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { loadConfig } from '../config/load.js';
import { ConfigError, ExitCode } from '../errors.js';
import { errorCatalogue } from '../core/error-catalogue.js';
import { DmsClient } from '../dms/client.js';
import { checkDmsPath, type PathStep } from '../dms/path-check.js';
import { systemClock } from '../core/clock.js';
import { timeouts } from '../core/timeouts.js';

const USAGE = `cloud-relay doctor [--config FILE] [--json]
${CONFIG_OPTION_HELP}
  --json            one JSON document: { ok, dmsUrl, steps: [{ step, state, detail, code?, fix? }] }

Walks the path from this machine to the DMS as the relay takes it, with the relay's own
configuration and environment (HTTPS_PROXY, NO_PROXY, …): config, the proxy choice and why,
DNS, TCP or the proxy's CONNECT, TLS and whose CA vouched, the HTTP API, the WebSocket upgrade.
Each step prints OK, FAIL (with the catalogued code and what to do) or SKIP.
Exit 0 when every step is OK, 69 when one fails, 78 when the configuration is invalid.`;

function print(dmsUrl: string | undefined, steps: readonly PathStep[]): void {
  console.log(`cloud-relay doctor: the path to ${dmsUrl ?? 'the DMS'}`);
  const width = Math.max(...steps.map((s) => s.step.length));
  for (const s of steps) {
    const mark = s.state === 'ok' ? 'OK  ' : s.state === 'fail' ? 'FAIL' : 'SKIP';
    console.log(`  ${mark}  ${s.step.padEnd(width)}  ${s.detail}`);
    if (s.code) console.log(`  ${' '.repeat(4 + 2 + width)}  ${s.code}: ${s.fix ?? ''}`);
  }
}

export const command: CliCommand = {
  name: 'doctor',
  summary: 'check the path to the DMS step by step (config, proxy, DNS, TCP/CONNECT, TLS, API, WebSocket)',
  usage: USAGE,
  async run(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string' }, json: { type: 'boolean', default: false } } });
    const steps: PathStep[] = [];
    let dmsUrl: string | undefined;
    let client: DmsClient | undefined;
    try {
      const cfg = loadConfig({ file: values.config });
      dmsUrl = cfg.dmsUrl;
      client = DmsClient.open(cfg, { clock: systemClock, apiTimeoutMs: timeouts.doctorStep.ms, bulkConnections: 1 });
      steps.push({ step: 'config', state: 'ok', detail: `dmsUrl ${cfg.dmsUrl}${cfg.dmsCaFile ? `, dmsCaFile ${cfg.dmsCaFile}` : ', system CAs only (no dmsCaFile)'}` });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const detail = err.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      steps.push({ step: 'config', state: 'fail', detail, code: 'CONFIG_INVALID', fix: errorCatalogue.CONFIG_INVALID.sentence });
    }
    if (client) {
      try {
        steps.push(...(await checkDmsPath(client)));
      } finally {
        await client.close();
      }
    }
    const ok = steps.every((s) => s.state === 'ok');
    if (values.json) console.log(JSON.stringify({ ok, dmsUrl: dmsUrl ?? null, steps }, null, 2));
    else print(dmsUrl, steps);
    if (ok) return ExitCode.OK;
    return steps.some((s) => s.step === 'config' && s.state === 'fail') ? ExitCode.CONFIG : ExitCode.UNAVAILABLE;
  },
};

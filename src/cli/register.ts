import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { configOrExit } from './common.js';
import { ConfigError, ExitCode, errorMessage } from '../errors.js';
import { openDb } from '../store/db.js';
import { KvStore } from '../store/kv.js';
import { RegistrationRepository } from '../store/registration.js';
import { RegistrationClient } from '../management-agent/registration.js';
import { DmsClient } from '../dms/client.js';
import { DEFAULT_TUNING } from '../management-agent/tuning.js';
import { createLogger } from '../log.js';
import { systemClock } from '../core/clock.js';

export const command: CliCommand = {
  name: 'register',
  summary: 'store the tenant ID and PIN and register with the DMS once',
  usage: `cloud-relay register --tenant TENANT --pin PIN [--config FILE]\n${CONFIG_OPTION_HELP}\n  --tenant TENANT   tenant ID shown in the DMS\n  --pin PIN         registration PIN from the DMS (or --pin-file FILE)\n  --pin-file FILE   read the PIN from a file (keeps it out of the shell history)\n\nThe credentials are kept in the data dir and win over the config's tenantId/pin from then on.\nA running relay picks them up at its next registration.`,
  async run(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string' }, tenant: { type: 'string' }, pin: { type: 'string' }, 'pin-file': { type: 'string' } } });
    if (!values.tenant || (!values.pin && !values['pin-file'])) {
      console.error('cloud-relay register: --tenant and --pin (or --pin-file) are required');
      return ExitCode.USAGE;
    }
    let pin = values.pin;
    if (!pin) {
      try {
        pin = readFileSync(values['pin-file']!, 'utf8').trim();
      } catch (err) {
        console.error(`cloud-relay register: cannot read --pin-file: ${errorMessage(err)}`);
        return ExitCode.USAGE;
      }
    }
    const overrides: Record<string, unknown> = { tenantId: values.tenant, pin };
    const cfg = configOrExit(values.config, overrides);
    if (typeof cfg === 'number') return cfg;

    let http: DmsClient;
    try {
      http = DmsClient.open(cfg, { clock: systemClock, apiTimeoutMs: DEFAULT_TUNING.httpTimeoutMs, bulkConnections: 1 });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      console.error(`cloud-relay: ${err.message}`);
      return ExitCode.CONFIG;
    }
    const db = openDb(cfg.dataDir);
    try {
      const repo = new RegistrationRepository(new KvStore(db));
      const creds = { tenantId: cfg.tenantId ?? values.tenant ?? '', pin: cfg.pin ?? '' };
      const client = new RegistrationClient({
        dmsUrl: cfg.dmsUrl,
        fqdn: cfg.fqdn,
        credentials: () => creds,
        http,
        repo,
        log: createLogger('silent'),
        clock: systemClock,
        tuning: DEFAULT_TUNING,
      });
      const outcome = await client.attempt();
      client.stop();
      if (outcome.ok) {
        repo.saveCredentials({ ...creds, storedAt: new Date().toISOString() });
        const r = outcome.registration;
        console.log(
          `registered with ${cfg.dmsUrl}\n  relay id      ${r.relayId}\n  tenant        ${cfg.tenantId}\n  site          ${r.site.name} (${r.site.id})\n  token valid   until ${r.tokenExpiresAt}\n  heartbeat     every ${r.heartbeatIntervalSeconds} s\ncredentials stored in ${cfg.dataDir}`,
        );
        return ExitCode.OK;
      }
      if (outcome.kind === 'invalid_credentials') {
        console.error(`cloud-relay register: tenant ID or PIN rejected by the DMS (tenant ${cfg.tenantId}); nothing stored`);
        return ExitCode.FAILURE;
      }
      // The DMS could not say yes or no: keep the credentials so the relay uses them when it can.
      repo.saveCredentials({ ...creds, storedAt: new Date().toISOString() });
      console.error(
        `cloud-relay register: not registered: ${outcome.error.message} [${outcome.error.code}]\ncredentials stored; the relay will register with them when the DMS is reachable`,
      );
      return ExitCode.UNAVAILABLE;
    } catch (err) {
      console.error(`cloud-relay register: ${errorMessage(err)}`);
      return ExitCode.SOFTWARE;
    } finally {
      await http.close();
      db.close();
    }
  },
};

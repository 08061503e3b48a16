import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { DATA_DIR_OPTION_HELP, existingDbDir, parseStoreCommand, secretsKeyFileOf } from './data-dir.js';
import { ExitCode } from '../errors.js';
import { openDb } from '../store/db.js';
import { DeviceRepo } from '../store/devices.js';

const USAGE = `cloud-relay devices list [--json]
       cloud-relay devices pins [--json]
       cloud-relay devices clear-pin IP:PORT
${CONFIG_OPTION_HELP}
${DATA_DIR_OPTION_HELP}

list shows the phones the relay knows (from DMS tasks) and their last status.
pins shows the phone certificate fingerprints remembered by devices.tlsPolicy=pin-on-first-use;
clear-pin forgets one (after a phone was replaced), so the next connection pins the new certificate.
Works on the relay database directly; a running daemon sees a cleared pin at once.`;

export const command: CliCommand = {
  name: 'devices',
  summary: 'list known phones, show and clear pinned phone certificates',
  usage: USAGE,
  async run(args) {
    const parsed = parseStoreCommand('devices', args, ['list', 'pins', 'clear-pin'] as const, USAGE);
    if (typeof parsed === 'number') return parsed;
    const { values, sub } = parsed;
    const [arg] = parsed.rest;
    if (sub === 'clear-pin' && !/^[^\s]+:\d{1,5}$/.test(arg ?? '')) {
      console.error(`cloud-relay devices clear-pin: "${arg ?? ''}" is not IP:PORT (e.g. 10.1.2.3:443)`);
      return ExitCode.USAGE;
    }
    const dir = await existingDbDir(values);
    if (typeof dir === 'number') return dir;
    const keyFile = secretsKeyFileOf(values);
    if (typeof keyFile === 'number') return keyFile;
    const db = openDb(dir, { secretsKeyFile: keyFile });
    try {
      const repo = new DeviceRepo(db);
      if (sub === 'clear-pin') {
        if (!repo.clearPin(arg!)) {
          console.error(`cloud-relay devices clear-pin: no pin for ${arg!}`);
          return ExitCode.FAILURE;
        }
        console.log(`pin for ${arg!} cleared; the next connection pins the phone's current certificate`);
        return ExitCode.OK;
      }
      if (sub === 'pins') {
        const pins = repo.pins();
        if (values.json) console.log(JSON.stringify(pins));
        else for (const p of pins) console.log(`${p.origin.padEnd(28)} ${p.fingerprint}  pinned ${new Date(p.pinnedAt).toISOString()}`);
        return ExitCode.OK;
      }
      // Printed page by page, so listing 50,000 phones never holds them all (the JSON is one array all the same).
      let first = true;
      if (values.json) process.stdout.write('[');
      for (let page = repo.page('', 500); page.length > 0; page = repo.page(page[page.length - 1]!.deviceId, 500)) {
        for (const r of page) {
          if (values.json) {
            process.stdout.write(
              `${first ? '' : ','}${JSON.stringify({ deviceId: r.deviceId, mac: r.mac, ip: r.ip, online: r.online, status: r.status ? (JSON.parse(r.status) as unknown) : null })}`,
            );
            first = false;
          } else console.log(`${r.deviceId.padEnd(28)} ${r.mac}  ${r.ip.padEnd(16)} ${r.online === null ? 'never polled' : r.online ? 'online' : 'offline'}`);
        }
      }
      if (values.json) process.stdout.write(']\n');
      return ExitCode.OK;
    } finally {
      db.close();
    }
  },
};

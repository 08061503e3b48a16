#!/usr/bin/env node
import type { CliCommand } from './cli/command.js';
import { ExitCode, errorMessage } from './errors.js';
import { VERSION } from './version.js';

/** Loaded lazily so `cloud-relay status` does not pay for the daemon's imports. */
const COMMANDS: Record<string, () => Promise<{ command: CliCommand }>> = {
  start: () => import('./cli/start.js'),
  status: () => import('./cli/status.js'),
  config: () => import('./cli/config.js'),
  register: () => import('./cli/register.js'),
  cert: () => import('./cli/cert.js'),
  ip: () => import('./cli/ip.js'),
  images: () => import('./cli/images.js'),
  rollouts: () => import('./cli/rollouts.js'),
  diag: () => import('./cli/diag.js'),
  devices: () => import('./cli/devices.js'),
  db: () => import('./cli/db.js'),
  doctor: () => import('./cli/doctor.js'),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    console.log(VERSION);
    return ExitCode.OK;
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const lines = [`cloud-relay ${VERSION}: relay between VoIP phones on a private LAN and the cloud DMS`, '', 'Usage: cloud-relay <command> [options]', '', 'Commands:'];
    for (const load of Object.values(COMMANDS)) {
      const { command } = await load();
      lines.push(`  ${command.name.padEnd(10)} ${command.summary}`);
    }
    lines.push('', "Run `cloud-relay <command> --help` for a command's options.");
    console.log(lines.join('\n'));
    return name === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`cloud-relay: unknown command "${name}" (see cloud-relay --help)`);
    return ExitCode.USAGE;
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${command.summary}\n\nUsage: ${command.usage}`);
    return ExitCode.OK;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`cloud-relay ${name}: ${err.message}\nUsage: ${command.usage}`);
      return ExitCode.USAGE;
    }
    console.error(`cloud-relay ${name}: ${errorMessage(err)}`);
    return ExitCode.SOFTWARE;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`cloud-relay: ${errorMessage(err)}`);
    process.exitCode = ExitCode.SOFTWARE;
  },
);

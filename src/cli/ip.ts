import type { CliCommand } from './command.js';
import { ExitCode } from '../errors.js';

// Placeholder until the issue that builds 'ip' lands.
export const command: CliCommand = {
  name: 'ip',
  summary: '(ip is not built yet)',
  usage: 'cloud-relay ip',
  async run() {
    console.error('cloud-relay: ip is not available in this build');
    return ExitCode.UNAVAILABLE;
  },
};

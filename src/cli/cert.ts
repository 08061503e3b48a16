import type { CliCommand } from './command.js';
import { ExitCode } from '../errors.js';

// Placeholder until the issue that builds 'cert' lands.
export const command: CliCommand = {
  name: 'cert',
  summary: '(cert is not built yet)',
  usage: 'cloud-relay cert',
  async run() {
    console.error('cloud-relay: cert is not available in this build');
    return ExitCode.UNAVAILABLE;
  },
};

import type { CliCommand } from './command.js';
import { ExitCode } from '../errors.js';

// Placeholder until the issue that builds 'register' lands.
export const command: CliCommand = {
  name: 'register',
  summary: '(register is not built yet)',
  usage: 'cloud-relay register',
  async run() {
    console.error('cloud-relay: register is not available in this build');
    return ExitCode.UNAVAILABLE;
  },
};

import type { CliCommand } from './command.js';
import { ExitCode } from '../errors.js';

// Placeholder until the issue that builds 'diag' lands.
export const command: CliCommand = {
  name: 'diag',
  summary: '(diag is not built yet)',
  usage: 'cloud-relay diag',
  async run() {
    console.error('cloud-relay: diag is not available in this build');
    return ExitCode.UNAVAILABLE;
  },
};

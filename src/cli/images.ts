import type { CliCommand } from './command.js';
import { ExitCode } from '../errors.js';

// Placeholder until the issue that builds 'images' lands.
export const command: CliCommand = {
  name: 'images',
  summary: '(images is not built yet)',
  usage: 'cloud-relay images',
  async run() {
    console.error('cloud-relay: images is not available in this build');
    return ExitCode.UNAVAILABLE;
  },
};

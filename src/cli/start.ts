import { parseArgs } from 'node:util';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { configOrExit } from './common.js';
import { Daemon } from '../daemon/index.js';
import { ConfigError, ExitCode, RelayError, errorMessage, errorSpec } from '../errors.js';
import { notifySystemd } from '../sd-notify.js';

export const command: CliCommand = {
  name: 'start',
  summary: 'run the relay daemon in the foreground',
  usage: `cloud-relay start [--config FILE]\n${CONFIG_OPTION_HELP}\n\nSIGTERM/SIGINT drain in-flight work (shutdownGraceSeconds) and exit 0; a second signal exits at once.`,
  async run(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
    const cfg = configOrExit(values.config);
    if (typeof cfg === 'number') return cfg;
    const daemon = new Daemon({ config: cfg });
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        daemon.log.warn({ signal: sig }, 'second signal: exiting at once');
        daemon.log.flush();
        process.exit(ExitCode.TEMP_FAIL);
      }
      void notifySystemd('stopping', daemon.log);
      void daemon.stop(`received ${sig}`).then(
        () => process.exit(ExitCode.OK),
        (err: unknown) => {
          console.error(`cloud-relay: shutdown failed: ${errorMessage(err)}`);
          process.exit(ExitCode.SOFTWARE);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      await daemon.start();
    } catch (err) {
      const code = err instanceof RelayError ? err.code : ('START_FAILED' as const);
      daemon.log.fatal({ code, err: errorMessage(err) }, 'cloud-relay could not start');
      daemon.log.flush();
      console.error(`cloud-relay: cannot start: ${errorMessage(err)}`);
      await daemon.stop('start failed').catch(() => undefined);
      // A setting found unusable only when a part opens it (dmsCaFile, devices.caFile) is still a config fault.
      if (err instanceof ConfigError) return ExitCode.CONFIG;
      return errorSpec(code).exit ?? ExitCode.UNAVAILABLE;
    }
    void notifySystemd('ready', daemon.log);
    // Runs until a signal: the process stays alive on its servers and timers.
    return new Promise<number>(() => undefined);
  },
};

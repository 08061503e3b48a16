/** One `cloud-relay <name>` subcommand. `run` returns the process exit code (sysexits). */
export interface CliCommand {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(args: string[]): Promise<number>;
}

/** Options every command that reads the config accepts. */
export const CONFIG_OPTION_HELP = '  --config FILE     JSON config file (default: $CLOUD_RELAY_CONFIG)';

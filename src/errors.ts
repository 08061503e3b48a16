import { RelayError } from './core/relay-error.js';

// RelayError and the catalogue live on the ground floor (src/core/); re-exported so parts keep one import.
export { RelayError };
export { errorCatalogue, errorSpec, isErrorCode, type Catalogued, type ErrorCode, type ErrorSpec } from './core/error-catalogue.js';

/** One invalid setting: where it is and why it is wrong. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends RelayError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    super(
      'CONFIG_INVALID',
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` + problems.map((p) => `  - ${p.path}: ${p.message}`).join('\n'),
    );
    this.problems = problems;
  }
}

export class StoreError extends RelayError {}

/** The local clock disagrees with the world (TLS "not yet valid", DMS serverTime far off). */
export class ClockSkewError extends RelayError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('CLOCK_SKEW', message, details ? { details } : undefined);
  }
}

/** Exit codes from sysexits(3): admins and systemd read them. */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64,
  /** An input the command reads (a file, the relay database) does not exist or cannot be read. */
  NO_INPUT: 66,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  CANT_CREATE: 73,
  TEMP_FAIL: 75,
  CONFIG: 78,
} as const;

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function errorCode(err: unknown): string | undefined {
  if (err instanceof RelayError) return err.code;
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

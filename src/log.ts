import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Secrets are removed by path, so a careless `log.info({ frame })` cannot leak them.
 * Wildcards cover one nesting level; deeper objects must not carry secrets in logs at all.
 */
export const REDACT_PATHS: readonly string[] = [
  'pin',
  '*.pin',
  'oldPin',
  'newPin',
  'token',
  '*.token',
  'bearer',
  'passphrase',
  '*.passphrase',
  'pfxPassphrase',
  '*.pfxPassphrase',
  'password',
  '*.password',
  '*.*.password',
  '*.*.*.password',
  'credentials',
  '*.credentials',
  '*.*.credentials',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'Authorization',
  '*.Authorization',
  'headers.Authorization',
  'cookie',
  '*.cookie',
  'headers.cookie',
  'pfx',
  '*.pfx',
];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { svc: 'cloud-relay' },
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

import { DeviceError } from '../devices/errors.js';
import { READ_ONLY, type CommandKind } from '../devices/commands.js';
import { retryPolicyDelay, type RetryPolicy } from '../core/backoff.js';

export type { RetryPolicy };

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 1_000, maxDelayMs: 30_000 };

/**
 * Decides whether a failed attempt is tried again and after how long. Retries only when the
 * request provably never reached the phone, when the phone said it is busy, or when the
 * command only reads (per the command table); auth and trust failures are final; a Retry-After is honoured.
 */
export function retryDelay(err: unknown, kind: CommandKind, attempt: number, policy: RetryPolicy): number | undefined {
  if (attempt >= policy.attempts || !(err instanceof DeviceError)) return undefined;
  const jittered = retryPolicyDelay(policy, attempt, 'equal');
  switch (err.code) {
    case 'CONNECT_FAILED':
      return jittered;
    case 'BUSY':
      return Math.min(policy.maxDelayMs * 10, err.retryAfterMs ?? jittered);
    case 'TIMEOUT':
    case 'CONNECTION_LOST':
    case 'HTTP_ERROR':
    case 'BAD_RESPONSE':
      if (!READ_ONLY.has(kind)) return undefined;
      return err.retryAfterMs !== undefined ? Math.min(policy.maxDelayMs * 10, err.retryAfterMs) : jittered;
    default:
      return undefined;
  }
}

import { DeviceError } from '../../devices/errors.js';
import type { CommandKind } from '../frames.js';
import { retryPolicyDelay, type RetryPolicy } from '../../core/backoff.js';

/** Commands that only read: safe to resend even if the first try may have reached the phone. */
export const READ_ONLY: ReadonlySet<CommandKind> = new Set(['getParams', 'getConfig', 'screenCapture', 'status']);

/** Commands whose effect must not happen twice: after a crash mid-send they are reported "interrupted". */
export const NOT_REPEATABLE: ReadonlySet<CommandKind> = new Set(['dial', 'reboot', 'reset', 'pcapStart']);

export type { RetryPolicy };

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseDelayMs: 1_000, maxDelayMs: 30_000 };

/**
 * Decides whether a failed attempt is tried again and after how long. Retries only when the
 * request provably never reached the phone, when the phone said it is busy, or when the
 * command only reads; auth and trust failures are final; a Retry-After is honoured.
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

import { ClockSkewError } from '../errors.js';

const NOT_YET_VALID = new Set(['CERT_NOT_YET_VALID', 'ERR_TLS_CERT_NOT_YET_VALID']);

/** Walks an error's cause chain for a TLS "certificate is not yet valid": our clock is behind. */
export function clockSkewFromTlsError(err: unknown, now: number): ClockSkewError | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const code = 'code' in e ? String((e as { code: unknown }).code) : '';
    const message = e instanceof Error ? e.message : '';
    if (NOT_YET_VALID.has(code) || /certificate is not yet valid/i.test(message)) {
      return new ClockSkewError(
        `the DMS certificate is "not yet valid" at this machine's time ${new Date(now).toISOString()}: the local clock is most likely wrong (check NTP), not the certificate`,
        { source: 'tls' },
      );
    }
    e = 'cause' in e ? (e as { cause: unknown }).cause : undefined;
  }
  return undefined;
}

/** Compares the DMS's serverTime with ours; a gap beyond the tolerance is a clock problem here. */
export function clockSkewFromServerTime(serverTime: string, now: number, toleranceMs: number): ClockSkewError | undefined {
  const server = Date.parse(serverTime);
  if (Number.isNaN(server)) return undefined;
  const skewMs = now - server;
  if (Math.abs(skewMs) <= toleranceMs) return undefined;
  return new ClockSkewError(
    `the local clock is ${Math.round(Math.abs(skewMs) / 1000)} s ${skewMs > 0 ? 'ahead of' : 'behind'} the DMS (serverTime ${serverTime}): fix the time source (NTP); tokens and certificates depend on it`,
    { source: 'serverTime', skewMs, serverTime },
  );
}

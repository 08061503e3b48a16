import type { Socket } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import type { Logger } from '../log.js';
import { timeouts } from '../core/timeouts.js';
import { relayMetrics } from '../metrics/relay-metrics.js';
import { phoneAddressOf } from './phone-listener.js';

const METRIC_REASON = { handshakeTimeouts: 'handshake_timeout', headerTimeouts: 'headers_timeout', overCap: 'over_cap' } as const;

/** Why the relay cut a phone-port connection that never became a request. */
export type CutKind = 'handshakeTimeouts' | 'headerTimeouts' | 'overCap';

const MAX_ADDRESSES = 5;

/** How a port names itself in the PHONE_CONNECTIONS_CUT line. */
const PORT_LABEL: Readonly<Record<string, string>> = { https: 'phone port', dls: 'OpenStage DLS port' };

/**
 * Counts connections of a phone-facing port (the phone port, the OpenStage DLS port) cut for
 * idleness or slowness (TLS handshake not finished, headers not sent in time) or refused over
 * the connection cap, and logs them as one PHONE_CONNECTIONS_CUT
 * line per report interval with the counts and the busiest addresses: a flood of thousands
 * of idle or slow-header connections is a few lines, not one per connection.
 */
export class CutConnections {
  private counts: Record<CutKind, number> = { handshakeTimeouts: 0, headerTimeouts: 0, overCap: 0 };
  private readonly totals: Record<CutKind, number> = { handshakeTimeouts: 0, headerTimeouts: 0, overCap: 0 };
  private byAddress = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private windowStart = 0;

  constructor(
    private readonly log: Logger,
    private readonly port: string,
    private readonly reportEveryMs = timeouts.phoneCutReport.ms,
  ) {}

  note(kind: CutKind, ip: string | undefined): void {
    relayMetrics.connectionCut(METRIC_REASON[kind]);
    this.counts[kind]++;
    this.totals[kind]++;
    if (ip !== undefined && (this.byAddress.size < 10_000 || this.byAddress.has(ip))) this.byAddress.set(ip, (this.byAddress.get(ip) ?? 0) + 1);
    if (!this.timer) {
      this.windowStart = Date.now();
      this.timer = setTimeout(() => this.report(), this.reportEveryMs);
      this.timer.unref();
    }
  }

  /** Since start, for metrics and tests. */
  total(): Readonly<Record<CutKind, number>> {
    return { ...this.totals };
  }

  /** Logs what was counted since the last report (also at stop). */
  report(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const n = this.counts.handshakeTimeouts + this.counts.headerTimeouts + this.counts.overCap;
    if (n === 0) return;
    const top = [...this.byAddress].sort((a, b) => b[1] - a[1]).slice(0, MAX_ADDRESSES);
    this.log.warn(
      {
        code: 'PHONE_CONNECTIONS_CUT',
        port: this.port,
        ...this.counts,
        seconds: Math.max(1, Math.round((Date.now() - this.windowStart) / 1000)),
        addresses: this.byAddress.size,
        top: Object.fromEntries(top),
      },
      `${n} connection(s) on the ${PORT_LABEL[this.port] ?? `${this.port} port`} cut or refused: no TLS handshake or no request headers in time, or over the connection cap`,
    );
    this.counts = { handshakeTimeouts: 0, headerTimeouts: 0, overCap: 0 };
    this.byAddress = new Map();
  }
}

/**
 * Cuts the connections of a phone-facing TLS server (built with a `handshakeTimeout`) that do
 * not finish their handshake in time, each counted once in `cut`: Node reports a timeout both
 * as a TLS and as an HTTP client error, and with a 'tlsClientError' listener it leaves the
 * socket open (an idle connection would be held for ever) unless it is destroyed. Other
 * handshake failures go to `onTlsError` and are cut too. Returns the check the server's HTTP
 * 'clientError' handler calls first: true when the error was a handshake timeout, now handled.
 */
export function cutSlowHandshakes(
  server: TlsServer,
  cut: CutConnections,
  onTlsError?: (err: NodeJS.ErrnoException, socket: Socket) => void,
): (err: NodeJS.ErrnoException, socket: Socket) => boolean {
  const timedOut = new WeakSet<Socket>();
  const handshakeTimedOut = (socket: Socket): void => {
    if (!timedOut.has(socket)) {
      timedOut.add(socket);
      cut.note('handshakeTimeouts', phoneAddressOf(socket));
    }
    socket.destroy();
  };
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') handshakeTimedOut(socket);
    else onTlsError?.(err, socket);
    socket.destroy();
  });
  return (err, socket) => {
    if (err.code !== 'ERR_TLS_HANDSHAKE_TIMEOUT') return false;
    handshakeTimedOut(socket);
    return true;
  };
}

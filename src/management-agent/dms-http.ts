import { Agent, request } from 'undici';
import { RelayError, errorMessage } from '../errors.js';
import type { Clock } from '../core/clock.js';
import { clockSkewFromTlsError } from './clock-skew.js';
import { dmsSecureContext } from '../tls/trust.js';
import { timeouts } from '../core/timeouts.js';

export interface DmsResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
}

const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * JSON calls to the DMS API over one keep-alive pool, TLS always verified against the
 * system CAs plus the configured extra CA (PROTOCOL: verification is never turned off).
 */
export class DmsHttp {
  private readonly agent: Agent;

  constructor(
    private readonly baseUrl: string,
    ca: string[] | undefined,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {
    this.agent = new Agent({ connect: ca ? { secureContext: dmsSecureContext(ca) } : {}, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connections: 4, keepAliveTimeout: timeouts.dmsIdle.ms });
  }

  private url(path: string): string {
    return new URL(path.replace(/^\//, ''), this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`).toString();
  }

  /** POSTs JSON. Network and TLS failures become RelayError (ClockSkewError for a wrong local clock). */
  async postJson(path: string, body: unknown, token?: string): Promise<DmsResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await request(this.url(path), { method: 'POST', body: JSON.stringify(body), headers, dispatcher: this.agent, signal: AbortSignal.timeout(this.timeoutMs * 2) });
    } catch (err) {
      throw this.classify(err);
    }
    // Decoded once at the end: a multi-byte character may straddle two chunks.
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        res.body.destroy();
        throw new RelayError('DMS_RESPONSE_TOO_LARGE', `the DMS answered ${path} with more than ${MAX_RESPONSE_BYTES} bytes`);
      }
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks, size).toString('utf8');
    let parsed: unknown = undefined;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    return { status: res.statusCode, headers: res.headers, body: parsed };
  }

  private classify(err: unknown): RelayError {
    const skew = clockSkewFromTlsError(err, this.clock.now());
    if (skew) return skew;
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return new RelayError('DMS_UNREACHABLE', `cannot reach the DMS at ${this.baseUrl}: ${errorMessage(err)}${cause}`, { cause: err });
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Seams of the phone-facing HTTPS server. The server owns TLS, input hygiene (paths,
 * header sizes, timeouts), the IP guard and draining; what a request means is decided by
 * these handlers, tried in order, before the provisioning pass-through gets it.
 */
export interface PhoneRequestContext {
  /** The phone's IP as dotted IPv4 (no `::ffff:`) or IPv6. */
  readonly clientIp: string;
  /** Decoded, normalised path (traversal already refused), without the query string. */
  readonly path: string;
  /** Query string including the leading `?`, or ''. */
  readonly search: string;
}

export interface PhoneRoute {
  readonly name: string;
  matches(method: string, path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, ctx: PhoneRequestContext): Promise<void>;
}

import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * How parts of the DMS simulator (images, files, …) hang routes on its HTTPS API server
 * without touching its core. `relayId` is set when the request carried a valid bearer token.
 */
export interface DmsRoute {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  readonly pattern: RegExp;
  /** Refuse with 401 unless a valid relay token was presented. */
  readonly auth: boolean;
  handle(req: IncomingMessage, res: ServerResponse, match: RegExpExecArray, relayId: string | null): void | Promise<void>;
}

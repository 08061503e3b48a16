import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StatusDocument } from '../../core/status.js';
import { renderStatusPage } from './render.js';
import { STYLE_HASH } from './style.js';

/**
 * Nothing may load or run: one hashed stylesheet, the empty favicon, no scripts, no frames,
 * no forms. A value that slipped past escaping still could not fetch or execute anything.
 */
export const STATUS_PAGE_CSP = `default-src 'none'; style-src ${STYLE_HASH}; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** `GET /` (and HEAD) on the admin port: the status page for people. */
export function statusPageRoute(statusDocument: () => StatusDocument, now: () => number) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const body = Buffer.from(renderStatusPage(statusDocument(), now()), 'utf8');
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': body.length,
      'content-security-policy': STATUS_PAGE_CSP,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

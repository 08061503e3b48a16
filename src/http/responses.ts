import type { ServerResponse } from 'node:http';
import { OWN_ANSWER_HEADERS } from './security-headers.js';

/** A short plain-text answer the relay makes itself (errors, refusals). */
export function sendText(res: ServerResponse, status: number, body: string, extra?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${body}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...OWN_ANSWER_HEADERS, ...extra });
  res.end(text);
}

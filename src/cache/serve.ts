import type { IncomingMessage, ServerResponse } from 'node:http';
import { relayMetrics } from '../metrics/relay-metrics.js';
import { sendBytes, type ByteSource } from './byte-source.js';
import { decide, type Representation } from './http-semantics.js';

/** Opens the body's source; called only when a body is actually sent. */
export type OpenBody = () => ByteSource;

/**
 * Answers GET/HEAD for one representation: 304, 416, 206 or 200, with ETag, Last-Modified
 * and Accept-Ranges; streams the body with backpressure. A body that fails mid-way
 * destroys the response, so the client sees a truncated transfer, never a complete one.
 */
export async function sendRepresentation(req: IncomingMessage, res: ServerResponse, rep: Representation, open: OpenBody): Promise<void> {
  const method = req.method ?? 'GET';
  const d = decide(method, req.headers, rep);
  res.setHeader('ETag', rep.etag);
  res.setHeader('Last-Modified', rep.lastModified.toUTCString());
  res.setHeader('Accept-Ranges', 'bytes');
  if (d.kind === 'not-modified') {
    res.writeHead(304).end();
    return;
  }
  if (d.kind === 'unsatisfiable') {
    res.writeHead(416, { 'Content-Range': `bytes */${rep.size}`, 'Content-Length': '0' }).end();
    return;
  }
  const start = d.kind === 'partial' ? d.start : 0;
  const end = d.kind === 'partial' ? d.end : rep.size - 1;
  const length = Math.max(0, end - start + 1);
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Content-Length', String(length));
  if (d.kind === 'partial') {
    res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${rep.size}` });
  } else {
    res.writeHead(200);
  }
  if (method === 'HEAD' || length === 0) {
    res.end();
    return;
  }
  relayMetrics.bytesServed('cache', await sendBytes(res, open(), start, end + 1));
}

/** Whole body without validators or ranges (an on-demand fill whose hash is not known yet). */
export async function sendWhole(req: IncomingMessage, res: ServerResponse, size: number | undefined, open: OpenBody): Promise<void> {
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'none' };
  if (size !== undefined) headers['Content-Length'] = String(size);
  res.writeHead(200, headers);
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  relayMetrics.bytesServed('cache', await sendBytes(res, open(), 0, size));
}

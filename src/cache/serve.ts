import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { decide, type Representation } from './http-semantics.js';
import { relayMetrics } from '../metrics/relay-metrics.js';

/** Reads of 256 KiB: few syscalls and few TLS writes per MB, still small per connection. */
export const SERVE_CHUNK = 256 * 1024;

export type OpenBody = (start: number, endInclusive: number) => Readable;

/**
 * Answers GET/HEAD for one representation: 304, 416, 206 or 200, with ETag, Last-Modified
 * and Accept-Ranges; streams the body with backpressure. A body that fails mid-way
 * destroys the response, so the client sees a truncated transfer, never a complete one.
 */
export async function sendRepresentation(req: IncomingMessage, res: ServerResponse, rep: Representation, open: OpenBody, allowRange = true): Promise<void> {
  const method = req.method ?? 'GET';
  const headers = allowRange ? req.headers : { ...req.headers, range: undefined };
  const d = decide(method, headers, rep);
  res.setHeader('ETag', rep.etag);
  res.setHeader('Last-Modified', rep.lastModified.toUTCString());
  res.setHeader('Accept-Ranges', allowRange ? 'bytes' : 'none');
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
  await streamBody(open(start, end), res);
}

/** Body of unknown length (an on-demand fill whose origin sent no Content-Length). */
export async function sendUnknownLength(req: IncomingMessage, res: ServerResponse, body: () => Readable): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'none' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await streamBody(body(), res);
}

async function streamBody(body: Readable, res: ServerResponse): Promise<void> {
  let sent = 0;
  body.on('data', (chunk: Buffer) => (sent += chunk.length));
  try {
    await pipeline(body, res);
  } catch {
    // pipeline destroyed both sides: the client sees a cut transfer. Callers log via the fill.
    if (!res.destroyed) res.destroy();
  } finally {
    relayMetrics.bytesServed('cache', sent);
  }
}

export function fileBody(path: string): OpenBody {
  return (start, end) => createReadStream(path, { start, end, highWaterMark: SERVE_CHUNK });
}

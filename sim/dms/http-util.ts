import type { IncomingMessage, ServerResponse } from 'node:http';

/** Small HTTP helpers of the DMS simulator (its own: simulators share no code with the relay). */

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly detail?: string,
  ) {
    super(detail ?? error);
  }
}

export async function readJson(req: IncomingMessage, limit = 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpProblem(413, 'too_large', `body over ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpProblem(400, 'bad_json', err instanceof Error ? err.message : String(err));
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function str(body: Record<string, unknown>, key: string, opts: { optional?: boolean; nullable?: boolean } = {}): string | undefined | null {
  const v = body[key];
  if (v === undefined && opts.optional) return undefined;
  if (v === null && opts.nullable) return null;
  if (typeof v !== 'string' || v === '') throw new HttpProblem(400, 'bad_request', `field ${key} must be a non-empty string`);
  return v;
}

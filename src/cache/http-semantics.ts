import type { IncomingHttpHeaders } from 'node:http';

/** What a GET/HEAD asks of a representation, decided from its validators (RFC 9110 13, 14). */
export type Decision = { kind: 'not-modified' } | { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

export interface Representation {
  readonly size: number;
  /** Strong entity tag including quotes. */
  readonly etag: string;
  readonly lastModified: Date;
}

function etagListMatches(header: string, etag: string, weak: boolean): boolean {
  if (header.trim() === '*') return true;
  const bare = (t: string) => (weak ? t.replace(/^W\//, '') : t);
  return header
    .split(',')
    .map((t) => t.trim())
    .some((t) => (weak ? bare(t) === bare(etag) : t === etag));
}

/** Parses a single `bytes=` range; undefined when absent, malformed or multi-range (served whole). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return undefined;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

export function decide(method: string, headers: IncomingHttpHeaders, rep: Representation): Decision {
  const inm = headers['if-none-match'];
  if (inm !== undefined) {
    if (etagListMatches(inm, rep.etag, true)) return { kind: 'not-modified' };
  } else {
    const ims = headers['if-modified-since'];
    if (ims !== undefined) {
      const t = Date.parse(ims);
      if (!Number.isNaN(t) && Math.floor(rep.lastModified.getTime() / 1000) <= Math.floor(t / 1000)) return { kind: 'not-modified' };
    }
  }
  if (method !== 'GET') return { kind: 'full' };
  const range = parseRange(headers.range, rep.size);
  if (range === undefined) return { kind: 'full' };
  const ifRangeRaw = headers['if-range'];
  const ifRange = Array.isArray(ifRangeRaw) ? ifRangeRaw[0] : ifRangeRaw;
  if (ifRange !== undefined) {
    const v = ifRange.trim();
    if (v.startsWith('"') || v.startsWith('W/')) {
      // If-Range needs a strong match.
      if (v !== rep.etag) return { kind: 'full' };
    } else {
      const t = Date.parse(v);
      if (Number.isNaN(t) || Math.floor(rep.lastModified.getTime() / 1000) !== Math.floor(t / 1000)) return { kind: 'full' };
    }
  }
  if (range === 'unsatisfiable') return { kind: 'unsatisfiable' };
  return { kind: 'partial', start: range.start, end: range.end };
}

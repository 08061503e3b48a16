import { describe, expect, it } from 'vitest';
import { decide, parseRange } from '../../src/cache/http-semantics.js';
import { PathMatcher } from '../../src/cache/patterns.js';
import { applyLimits, parseCatalogue, MAX_BYTES } from '../../src/download-agent/catalogue.js';
import { nextOpening, windowCron, windowOpen } from '../../src/download-agent/sync-window.js';

const rep = { size: 1000, etag: '"abc"', lastModified: new Date('2026-01-01T00:00:00Z') };

describe('cache HTTP semantics', () => {
  it('parses single ranges and refuses unsatisfiable ones', () => {
    expect(parseRange('bytes=0-99', 1000)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=900-', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=-100', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=990-5000', 1000)).toEqual({ start: 990, end: 999 });
    expect(parseRange('bytes=1000-', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 1000)).toBeUndefined(); // multi-range: served whole
    expect(parseRange('bytes=50-10', 1000)).toBeUndefined();
    expect(parseRange('items=0-1', 1000)).toBeUndefined();
  });

  it('decides 304, If-Range and HEAD', () => {
    expect(decide('GET', { 'if-none-match': '"abc"' }, rep)).toEqual({ kind: 'not-modified' });
    expect(decide('GET', { 'if-none-match': '"zzz"', 'if-modified-since': 'Fri, 02 Jan 2026 00:00:00 GMT' }, rep)).toEqual({ kind: 'full' });
    expect(decide('GET', { 'if-modified-since': 'Fri, 02 Jan 2026 00:00:00 GMT' }, rep)).toEqual({ kind: 'not-modified' });
    expect(decide('GET', { range: 'bytes=0-9', 'if-range': '"abc"' }, rep)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(decide('GET', { range: 'bytes=0-9', 'if-range': 'W/"abc"' }, rep)).toEqual({ kind: 'full' });
    expect(decide('GET', { range: 'bytes=0-9', 'if-range': rep.lastModified.toUTCString() }, rep)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(decide('HEAD', { range: 'bytes=0-9' }, rep)).toEqual({ kind: 'full' });
    expect(decide('GET', { range: 'bytes=2000-' }, rep)).toEqual({ kind: 'unsatisfiable' });
  });

  it('matches firmware patterns by segment', () => {
    const m = new PathMatcher(['**/*.ld', '/swupdate/**', '**/*sip*.zip']);
    expect(m.matches('/sip.ld')).toBe(true);
    expect(m.matches('/a/b/sip.ld')).toBe(true);
    expect(m.matches('/swupdate/x/y.bin')).toBe(true);
    expect(m.matches('/fw/polycom-sip-6.4.zip')).toBe(true);
    expect(m.matches('/0004f2000001.cfg')).toBe(false);
    expect(m.matches('/swupdatex/y')).toBe(false);
    expect(m.matches('/a/.fw/sip.ld')).toBe(true);
  });

  it('firmware patterns: a pattern is anchored at the root with or without its leading slash; * stays in its segment; ! is literal', () => {
    expect(new PathMatcher(['fw/*.bin']).matches('/fw/a.bin')).toBe(true);
    expect(new PathMatcher(['/fw/*.bin']).matches('/x/fw/a.bin')).toBe(false);
    expect(new PathMatcher(['/fw/*.bin']).matches('/fw/x/a.bin')).toBe(false);
    expect(new PathMatcher(['/fw/**/b.bin']).matches('/fw/b.bin')).toBe(true);
    expect(new PathMatcher(['/fw/?.bin']).matches('/fw/1.bin')).toBe(true);
    expect(new PathMatcher(['/fw/{a,b}.bin']).matches('/fw/b.bin')).toBe(true);
    expect(new PathMatcher(['!/fw/**']).matches('/other.cfg')).toBe(false);
    expect(new PathMatcher([]).matches('/sip.ld')).toBe(false);
  });
});

describe('image catalogue', () => {
  const img = (id: string, size: number, path = `/swupdate/${id}.ld`) => ({
    imageId: id,
    vendor: 'polycom',
    models: [],
    version: '1',
    path,
    size,
    sha256: 'a'.repeat(64),
    url: 'https://dms.example/f',
  });

  it('rejects images beyond 40 images or the byte limit, duplicates and invalid entries, with reasons', () => {
    const many = parseCatalogue({ images: Array.from({ length: 42 }, (_, i) => img(`i${i}`, 1)) });
    const lim = applyLimits(many);
    expect(lim.accepted).toHaveLength(40);
    expect(lim.rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/40 images/), expect.stringMatching(/40 images/)]);

    const big = applyLimits(parseCatalogue({ maxBytes: MAX_BYTES * 2, images: [img('a', 20 * 1024 ** 3), img('b', 20 * 1024 ** 3), img('c', 5 * 1024 ** 3)] }));
    expect(big.accepted.map((i) => i.imageId)).toEqual(['a', 'c']);
    expect(big.rejected[0]?.reason).toMatch(/32212254720 bytes/);

    const dup = applyLimits(parseCatalogue({ images: [img('a', 1), img('a', 1), img('b', 1, '/swupdate/a.ld')] }));
    expect(dup.rejected.map((r) => r.reason)).toEqual([expect.stringMatching(/duplicate imageId/), expect.stringMatching(/already used/)]);

    const bad = parseCatalogue({ images: [{ ...img('p', 1), path: '/a/../etc/passwd' }, { ...img('q', 1), url: 'http://x/' }, img('ok', 1)] });
    expect(bad.images.map((i) => i.imageId)).toEqual(['ok']);
    expect(bad.invalid.map((i) => i.imageId)).toEqual(['p', 'q']);
    expect(() => parseCatalogue({ images: 'nope' })).toThrow(/images/);
  });
});

describe('sync window (UTC)', () => {
  const w = { days: ['mon' as const, 'wed' as const], start: '02:00', end: '04:00' };
  it('opens only on listed days between start and end, after notBefore', () => {
    expect(windowOpen(null, Date.parse('2026-12-14T12:00:00Z'))).toBe(true);
    expect(windowOpen(w, Date.parse('2026-12-14T02:00:00Z'))).toBe(true); // Monday
    expect(windowOpen(w, Date.parse('2026-12-14T04:00:00Z'))).toBe(false);
    expect(windowOpen(w, Date.parse('2026-12-15T03:00:00Z'))).toBe(false); // Tuesday
    expect(windowOpen({ ...w, notBefore: '2026-12-16T03:30' }, Date.parse('2026-12-16T03:00:00Z'))).toBe(false);
    expect(nextOpening({ ...w, notBefore: '2026-12-16T03:30' }, Date.parse('2026-12-16T03:00:00Z'))).toBe(Date.parse('2026-12-16T03:30:00Z'));
    expect(nextOpening(w, Date.parse('2026-12-14T05:00:00Z'))).toBe(Date.parse('2026-12-16T02:00:00Z'));
    expect(windowCron(w)).toBe('0 2 * * mon,wed');
  });
  it('a window past midnight belongs to the day it starts', () => {
    const night = { days: ['fri' as const], start: '22:00', end: '02:00' };
    expect(windowOpen(night, Date.parse('2026-12-18T23:00:00Z'))).toBe(true); // Friday night
    expect(windowOpen(night, Date.parse('2026-12-19T01:00:00Z'))).toBe(true); // Saturday early, Friday's window
    expect(windowOpen(night, Date.parse('2026-12-18T01:00:00Z'))).toBe(false); // Friday early: Thursday not listed
  });
});

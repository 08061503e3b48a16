import { describe, expect, it } from 'vitest';
import { encodeProxyV2, parseProxyHeader, V1_MAX_BYTES, V2_MAX_BYTES, V2_MAX_TLV_BYTES, V2_SIGNATURE } from '../../src/http/proxy-protocol.js';
import { CidrSet, parseCidr } from '../../src/config/cidr.js';

/** Byte layouts written out from doc/proxy-protocol.txt (section 2.2), not from the encoder. */
function v2(verCmd: number, famProto: number, body: number[]): Buffer {
  return Buffer.concat([V2_SIGNATURE, Buffer.from([verCmd, famProto, body.length >> 8, body.length & 0xff]), Buffer.from(body)]);
}
const TLS_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01]);

describe('PROXY protocol v1', () => {
  it('parses TCP4 and TCP6 lines and reports the header length', () => {
    const line = 'PROXY TCP4 127.20.1.2 127.0.0.1 51000 443\r\n';
    const r = parseProxyHeader(Buffer.concat([Buffer.from(line), TLS_HELLO]));
    expect(r).toEqual({
      kind: 'header',
      length: line.length,
      header: { version: 1, command: 'proxy', source: { address: '127.20.1.2', port: 51000 }, destination: { address: '127.0.0.1', port: 443 } },
    });
    const six = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::1 ::1 65535 0\r\n'));
    expect(six.kind === 'header' && six.header.source).toEqual({ address: '2001:db8::1', port: 65535 });
  });

  it('accepts the longest line the spec allows (107 bytes) and refuses a longer one', () => {
    const full = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    // The spec's worst case: UNKNOWN followed by two full IPv6 addresses and ports.
    const longest = `PROXY UNKNOWN ${full} ${full} 65535 65535\r\n`;
    expect(longest.length).toBe(V1_MAX_BYTES);
    expect(parseProxyHeader(Buffer.from(longest)).kind).toBe('header');
    expect(parseProxyHeader(Buffer.from(`PROXY TCP6 ${full} ${full} 65535 65535\r\n`)).kind).toBe('header');
    const tooLong = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_BYTES)}`);
    expect(parseProxyHeader(tooLong)).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/longer than 107/) });
  });

  it('UNKNOWN (a health check) means: use the real endpoints; what follows it is ignored', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ kind: 'header', length: 15, header: { version: 1, command: 'local' } });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ::1 1 2\r\n'))).toMatchObject({ kind: 'header', header: { command: 'local' } });
  });

  it('waits for more bytes while the line is a valid prefix', () => {
    for (const part of ['P', 'PROXY', 'PROXY TCP4 127.20.1.2', 'PROXY TCP4 127.20.1.2 127.0.0.1 1 2\r']) {
      expect(parseProxyHeader(Buffer.from(part))).toEqual({ kind: 'incomplete' });
    }
  });

  it.each([
    ['PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n', /unknown protocol/],
    ['PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n', /not IPv4/],
    ['PROXY TCP4 ::1 ::1 1 2\r\n', /not IPv4/],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', /not IPv6/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n', /port/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n', /port/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n', /port/],
    ['PROXY TCP4  1.2.3.4 1.2.3.4 1 2\r\n', /must be/],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n', /must be/],
    ['PROXY TCP4 1.2.3.4\n', /control character/],
    ['PROXYTCP4', /no PROXY protocol header/],
  ])('refuses %j', (text, reason) => {
    expect(parseProxyHeader(Buffer.from(text))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(reason) });
  });
});

describe('PROXY protocol v2', () => {
  it('parses PROXY TCP over IPv4 (0x21 0x11, 12-byte address block)', () => {
    const body = [127, 20, 1, 2, 127, 0, 0, 1, 0xc7, 0x38, 0x01, 0xbb];
    const buf = Buffer.concat([v2(0x21, 0x11, body), TLS_HELLO]);
    expect(parseProxyHeader(buf)).toEqual({
      kind: 'header',
      length: 28,
      header: { version: 2, command: 'proxy', source: { address: '127.20.1.2', port: 51000 }, destination: { address: '127.0.0.1', port: 443 } },
    });
  });

  it('parses PROXY TCP over IPv6 (0x21 0x21, 36-byte block), IPv4-mapped sources shown as IPv4', () => {
    const src = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const dst = [...Array<number>(15).fill(0), 1];
    const r = parseProxyHeader(v2(0x21, 0x21, [...src, ...dst, 0, 80, 1, 187]));
    expect(r).toEqual({
      kind: 'header',
      length: 52,
      header: { version: 2, command: 'proxy', source: { address: '2001:db8::1', port: 80 }, destination: { address: '::1', port: 443 } },
    });
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 20, 9, 9];
    const m = parseProxyHeader(v2(0x21, 0x21, [...mapped, ...dst, 0, 1, 0, 2]));
    expect(m.kind === 'header' && m.header.source?.address).toBe('127.20.9.9');
  });

  it('LOCAL (health check) is accepted whatever follows, and uses the real endpoints', () => {
    expect(parseProxyHeader(v2(0x20, 0x00, []))).toEqual({ kind: 'header', length: 16, header: { version: 2, command: 'local' } });
    expect(parseProxyHeader(v2(0x20, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]))).toMatchObject({ kind: 'header', length: 28, header: { command: 'local' } });
  });

  it('PROXY with AF_UNSPEC or AF_UNIX carries no IP: real endpoints', () => {
    expect(parseProxyHeader(v2(0x21, 0x00, []))).toMatchObject({ kind: 'header', header: { command: 'local' } });
    expect(parseProxyHeader(v2(0x21, 0x31, Array<number>(216).fill(0)))).toMatchObject({ kind: 'header', length: 232, header: { command: 'local' } });
  });

  it('skips well-formed TLVs after the addresses and refuses broken ones', () => {
    const addr = [127, 20, 1, 2, 127, 0, 0, 1, 0, 1, 0, 2];
    const tlvs = [0x05, 0, 3, 0x61, 0x62, 0x63, 0x04, 0, 0];
    expect(parseProxyHeader(v2(0x21, 0x11, [...addr, ...tlvs]))).toMatchObject({ kind: 'header', length: 16 + 12 + 9 });
    expect(parseProxyHeader(v2(0x21, 0x11, [...addr, 0x05, 0, 9, 0x61]))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/TLV runs past/) });
    expect(parseProxyHeader(v2(0x21, 0x11, [...addr, 0x05]))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/truncated TLV/) });
  });

  it('waits for the whole header, fixed part and address block', () => {
    const whole = v2(0x21, 0x11, [127, 20, 1, 2, 127, 0, 0, 1, 0, 1, 0, 2]);
    for (const n of [1, 5, 12, 15, 16, 27]) expect(parseProxyHeader(whole.subarray(0, n))).toEqual({ kind: 'incomplete' });
  });

  it('bounds the size: more TLV bytes than the cap, or a length past the limit, are refused before buffering', () => {
    const addr = Array<number>(12).fill(1);
    const justFits = [...addr, 0x20, (V2_MAX_TLV_BYTES - 3) >> 8, (V2_MAX_TLV_BYTES - 3) & 0xff, ...Array<number>(V2_MAX_TLV_BYTES - 3).fill(0)];
    expect(parseProxyHeader(v2(0x21, 0x11, justFits)).kind).toBe('header');
    const over = [...addr, 0x20, (V2_MAX_TLV_BYTES - 2) >> 8, (V2_MAX_TLV_BYTES - 2) & 0xff, ...Array<number>(V2_MAX_TLV_BYTES - 2).fill(0)];
    expect(parseProxyHeader(v2(0x21, 0x11, over))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/TLVs exceed/) });
    // Only the fixed part has arrived, announcing 64 KiB: refused at once, not waited for.
    const announced = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]);
    expect(parseProxyHeader(announced)).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(new RegExp(`${V2_MAX_BYTES}-byte limit`)) });
  });

  it.each([
    [0x11, 0x11, /version 1 is not 2/],
    [0x22, 0x11, /unknown command/],
    [0x21, 0x41, /unknown address family/],
    [0x21, 0x13, /unknown transport/],
    [0x21, 0x12, /datagram/],
  ])('refuses version/command 0x%s, family/protocol 0x%s', (vc, fp, reason) => {
    expect(parseProxyHeader(v2(vc, fp, Array<number>(12).fill(0)))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(reason) });
  });

  it('refuses an address block shorter than its family needs', () => {
    expect(parseProxyHeader(v2(0x21, 0x11, [1, 2, 3, 4]))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/shorter than the 12/) });
    expect(parseProxyHeader(v2(0x21, 0x21, Array<number>(12).fill(0)))).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/shorter than the 36/) });
  });

  it('the encoder (used by tests and the benchmark) produces what the parser reads', () => {
    for (const [s, d] of [
      ['127.20.0.7', '127.0.0.1'],
      ['2001:db8::7', 'fe80::1:2'],
    ] as const) {
      const buf = encodeProxyV2({ command: 'proxy', source: { address: s, port: 1234 }, destination: { address: d, port: 443 } });
      expect(parseProxyHeader(buf)).toMatchObject({ kind: 'header', length: buf.length, header: { source: { address: s, port: 1234 }, destination: { address: d, port: 443 } } });
    }
    expect(parseProxyHeader(encodeProxyV2({ command: 'local' }))).toMatchObject({ kind: 'header', header: { command: 'local' } });
  });
});

describe('no header at all', () => {
  it('names what arrived instead', () => {
    expect(parseProxyHeader(TLS_HELLO)).toMatchObject({ kind: 'invalid', missing: true, reason: expect.stringMatching(/TLS handshake/) });
    expect(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'))).toMatchObject({ kind: 'invalid', missing: true, reason: expect.stringMatching(/plain HTTP/) });
    // A v2 signature that goes wrong part-way is not a header either.
    expect(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01]))).toMatchObject({ kind: 'invalid', missing: true });
  });
});

describe('trusted proxy ranges', () => {
  it('parses addresses and CIDR ranges and says what is wrong', () => {
    expect(parseCidr('203.0.113.0/24')).toEqual({ address: '203.0.113.0', prefix: 24, family: 'ipv4' });
    expect(parseCidr('2001:db8::/32')).toEqual({ address: '2001:db8::', prefix: 32, family: 'ipv6' });
    expect(parseCidr('127.0.0.1')).toEqual({ address: '127.0.0.1', prefix: 32, family: 'ipv4' });
    expect(parseCidr('127.0.0.1/33')).toMatch(/prefix length must be 0-32/);
    expect(parseCidr('lb.example.com')).toMatch(/not an IP address/);
  });

  it('matches IPv4, IPv6 and IPv4-mapped peers', () => {
    const set = new CidrSet(['127.0.0.0/29', '::1']);
    expect(set.has('127.0.0.7')).toBe(true);
    expect(set.has('::ffff:127.0.0.7')).toBe(true);
    expect(set.has('127.0.0.8')).toBe(false);
    expect(set.has('::1')).toBe(true);
    expect(set.has('::2')).toBe(false);
    expect(set.has(undefined)).toBe(false);
  });
});

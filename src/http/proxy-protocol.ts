import { isIPv4, isIPv6 } from 'node:net';

/**
 * PROXY protocol header parser (versions 1 and 2, HAProxy's `doc/proxy-protocol.txt`).
 * A load balancer in TCP mode sends this header first on every connection it opens to a
 * backend, before the TLS ClientHello, to say who the client really is. Pure and
 * incremental: feed it the bytes received so far; it answers "need more", a header with
 * the number of bytes it took, or why the bytes are not a valid header.
 */

/** v1: "PROXY UNKNOWN " + two full IPv6 addresses + two 5-digit ports + CRLF is 107 bytes, the spec's bound. */
export const V1_MAX_BYTES = 107;
/** v2 fixed part: 12-byte signature, version/command, family/protocol, 16-bit length. */
export const V2_FIXED_BYTES = 16;
/** Largest v2 address block (AF_UNIX: two 108-byte paths). */
const V2_MAX_ADDRESS_BYTES = 216;
/**
 * TLVs a balancer may append after the addresses (AWS/Azure endpoint ids, unique id, ALPN,
 * SSL details). The spec allows 64 KiB; nothing we accept needs more than a few hundred
 * bytes, so a larger header is refused rather than buffered.
 */
export const V2_MAX_TLV_BYTES = 1024;
export const V2_MAX_BYTES = V2_FIXED_BYTES + V2_MAX_ADDRESS_BYTES + V2_MAX_TLV_BYTES;
/** The longest header this parser will wait for. */
export const MAX_HEADER_BYTES = V2_MAX_BYTES;

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /**
   * `proxy`: the connection is relayed for `source`. `local`: the balancer speaks for
   * itself (health checks; v2 LOCAL, v1 UNKNOWN, or an address family we cannot use) and
   * the connection's own endpoints apply.
   */
  readonly command: 'proxy' | 'local';
  readonly source?: Endpoint;
  readonly destination?: Endpoint;
}

export type ParseResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'header'; readonly header: ProxyHeader; readonly length: number }
  | { readonly kind: 'invalid'; readonly reason: string; readonly missing?: true };

const INCOMPLETE: ParseResult = { kind: 'incomplete' };

/** Parses the header at the start of `buf` (which holds every byte received so far). */
export function parseProxyHeader(buf: Buffer): ParseResult {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  return missing(buf);
}

function missing(buf: Buffer): ParseResult {
  // Say what arrived instead: the usual mistake is a balancer without send-proxy(-v2), or a
  // phone reaching the relay directly, which both start with a TLS handshake record.
  const what =
    buf[0] === 0x16 ? 'a TLS handshake' : /^[A-Z]{3,7} /.test(buf.subarray(0, 8).toString('latin1')) ? 'a plain HTTP request' : `byte 0x${buf[0]!.toString(16).padStart(2, '0')}`;
  return { kind: 'invalid', reason: `no PROXY protocol header: the connection starts with ${what}`, missing: true };
}

/** True while `buf` is a prefix of `expected` (or starts with all of it). */
function prefixMatches(buf: Buffer, expected: Buffer): boolean {
  const n = Math.min(buf.length, expected.length);
  return buf.compare(expected, 0, n, 0, n) === 0;
}

function parseV1(buf: Buffer): ParseResult {
  if (!prefixMatches(buf, V1_PREFIX)) return missing(buf);
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) {
    if (buf.length >= V1_MAX_BYTES) return { kind: 'invalid', reason: `PROXY v1 line longer than ${V1_MAX_BYTES} bytes` };
    // A bare LF or another control byte can never become a valid line: refuse now, not at the timeout.
    const bad = buf.subarray(0, buf.length).findIndex((b, i) => b < 0x20 && !(b === 0x0d && i === buf.length - 1));
    return bad >= 0 ? { kind: 'invalid', reason: 'PROXY v1 line holds a control character' } : INCOMPLETE;
  }
  const length = end + 2;
  if (length > V1_MAX_BYTES) return { kind: 'invalid', reason: `PROXY v1 line longer than ${V1_MAX_BYTES} bytes` };
  const line = buf.toString('latin1', V1_PREFIX.length, end);
  if (line.startsWith('UNKNOWN')) {
    // The spec: anything after UNKNOWN up to CRLF is ignored; the real endpoints apply.
    if (line.length > 7 && line[7] !== ' ') return { kind: 'invalid', reason: 'PROXY v1: unknown protocol' };
    return { kind: 'header', header: { version: 1, command: 'local' }, length };
  }
  const parts = line.split(' ');
  if (parts.length !== 5) return { kind: 'invalid', reason: 'PROXY v1 line must be "PROXY TCP4|TCP6 <src> <dst> <srcport> <dstport>"' };
  const [proto, src, dst, sport, dport] = parts as [string, string, string, string, string];
  const valid = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : undefined;
  if (!valid) return { kind: 'invalid', reason: `PROXY v1: unknown protocol "${proto.slice(0, 16)}"` };
  if (!valid(src) || !valid(dst)) return { kind: 'invalid', reason: `PROXY v1: address is not ${proto === 'TCP4' ? 'IPv4' : 'IPv6'}` };
  const sp = v1Port(sport);
  const dp = v1Port(dport);
  if (sp === undefined || dp === undefined) return { kind: 'invalid', reason: 'PROXY v1: port is not a number in 0-65535' };
  return { kind: 'header', header: { version: 1, command: 'proxy', source: { address: src, port: sp }, destination: { address: dst, port: dp } }, length };
}

function v1Port(text: string): number | undefined {
  // Decimal, no sign, no leading zero (the spec's "0..65535" in canonical form).
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV2(buf: Buffer): ParseResult {
  if (!prefixMatches(buf, V2_SIGNATURE)) return missing(buf);
  if (buf.length < V2_FIXED_BYTES) return INCOMPLETE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: `PROXY v2: version ${verCmd >> 4} is not 2` };
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return { kind: 'invalid', reason: `PROXY v2: unknown command 0x${cmd.toString(16)}` };
  const famProto = buf[13]!;
  const bodyLength = buf.readUInt16BE(14);
  const length = V2_FIXED_BYTES + bodyLength;
  if (length > V2_MAX_BYTES) return { kind: 'invalid', reason: `PROXY v2 header of ${length} bytes exceeds the ${V2_MAX_BYTES}-byte limit` };
  if (buf.length < length) return INCOMPLETE;
  // LOCAL: the balancer's own connection (health check); address family and block ignored.
  if (cmd === 0) return { kind: 'header', header: { version: 2, command: 'local' }, length };

  const family = famProto >> 4;
  const proto = famProto & 0x0f;
  if (family > 3) return { kind: 'invalid', reason: `PROXY v2: unknown address family 0x${family.toString(16)}` };
  if (proto > 2) return { kind: 'invalid', reason: `PROXY v2: unknown transport protocol 0x${proto.toString(16)}` };
  if (proto === 2) return { kind: 'invalid', reason: 'PROXY v2: datagram (UDP) connection on a TCP port' };
  const addrBytes = family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0;
  if (bodyLength < addrBytes) return { kind: 'invalid', reason: `PROXY v2: address block of ${bodyLength} bytes is shorter than the ${addrBytes} its family needs` };
  if (bodyLength - addrBytes > V2_MAX_TLV_BYTES) return { kind: 'invalid', reason: `PROXY v2: ${bodyLength - addrBytes} bytes of TLVs exceed the ${V2_MAX_TLV_BYTES}-byte limit` };
  const tlvProblem = checkTlvs(buf, V2_FIXED_BYTES + addrBytes, length);
  if (tlvProblem) return { kind: 'invalid', reason: `PROXY v2: ${tlvProblem}` };
  // AF_UNSPEC or AF_UNIX: a relayed connection without an IP to report; the spec lets the
  // receiver use the real endpoints.
  if (family === 0 || family === 3 || proto === 0) return { kind: 'header', header: { version: 2, command: 'local' }, length };
  // The address block, IPv4 or IPv6 alike: source and destination address, then their ports.
  const [address, size] = family === 1 ? [ipv4, 4] : [ipv6, 16];
  const a = V2_FIXED_BYTES;
  const ports = a + 2 * size;
  return {
    kind: 'header',
    header: {
      version: 2,
      command: 'proxy',
      source: { address: address(buf, a), port: buf.readUInt16BE(ports) },
      destination: { address: address(buf, a + size), port: buf.readUInt16BE(ports + 2) },
    },
    length,
  };
}

/** Each TLV (type, 16-bit length, value) must end inside the header. */
function checkTlvs(buf: Buffer, from: number, to: number): string | undefined {
  let at = from;
  while (at < to) {
    if (to - at < 3) return 'truncated TLV';
    const len = buf.readUInt16BE(at + 1);
    at += 3 + len;
    if (at > to) return 'TLV runs past the end of the header';
  }
  return undefined;
}

function ipv4(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

function ipv6(buf: Buffer, at: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(at + i).toString(16));
  // IPv4-mapped sources (a dual-stack balancer) are shown the way the rest of the relay shows them.
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') return ipv4(buf, at + 12);
  return compressIpv6(groups);
}

/** RFC 5952 text form: the longest run (≥ 2) of zero groups becomes "::". */
function compressIpv6(groups: string[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`;
}

/** Encodes a v2 header (for tests, the benchmark and the phone simulator's balancer stand-in). */
export function encodeProxyV2(header: { command: 'proxy' | 'local'; source?: Endpoint; destination?: Endpoint; tlvs?: Buffer }): Buffer {
  const tlvs = header.tlvs ?? Buffer.alloc(0);
  if (header.command === 'local' || !header.source || !header.destination) {
    const out = Buffer.alloc(V2_FIXED_BYTES + tlvs.length);
    V2_SIGNATURE.copy(out, 0);
    out[12] = 0x20;
    out[13] = 0x00;
    out.writeUInt16BE(tlvs.length, 14);
    tlvs.copy(out, V2_FIXED_BYTES);
    return out;
  }
  const v6 = isIPv6(header.source.address);
  const addrBytes = v6 ? 36 : 12;
  const out = Buffer.alloc(V2_FIXED_BYTES + addrBytes + tlvs.length);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21;
  out[13] = v6 ? 0x21 : 0x11;
  out.writeUInt16BE(addrBytes + tlvs.length, 14);
  const a = V2_FIXED_BYTES;
  if (v6) {
    ipv6Bytes(header.source.address).copy(out, a);
    ipv6Bytes(header.destination.address).copy(out, a + 16);
    out.writeUInt16BE(header.source.port, a + 32);
    out.writeUInt16BE(header.destination.port, a + 34);
  } else {
    Buffer.from(header.source.address.split('.').map(Number)).copy(out, a);
    Buffer.from(header.destination.address.split('.').map(Number)).copy(out, a + 4);
    out.writeUInt16BE(header.source.port, a + 8);
    out.writeUInt16BE(header.destination.port, a + 10);
  }
  tlvs.copy(out, a + addrBytes);
  return out;
}

function ipv6Bytes(text: string): Buffer {
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

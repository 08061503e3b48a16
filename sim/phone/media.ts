import { deflateSync } from 'node:zlib';

/** Test media a phone produces: a real libpcap capture and a real PNG screenshot. */

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A small RGB PNG with a gradient seeded by the phone's MAC, so two phones' screens differ. */
export function screenPng(seed: string, width = 96, height = 64): Buffer {
  const s = [...seed].reduce((a, ch) => (a * 31 + ch.charCodeAt(0)) & 0xff, 7);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      raw[row + 1 + x * 3] = (x * 255) / width;
      raw[row + 2 + x * 3] = (y * 255) / height;
      raw[row + 3 + x * 3] = s;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A libpcap file (magic a1b2c3d4, Ethernet) of `count` SIP OPTIONS packets from the phone's IP. */
export function pcapFile(phoneIp: string, mac: string, count = 20, startMs = Date.now()): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20);
  const src = phoneIp.split('.').map(Number);
  const macBytes = Buffer.from(
    mac
      .replace(/[^0-9a-f]/gi, '')
      .padEnd(12, '0')
      .slice(0, 12),
    'hex',
  );
  const parts: Buffer[] = [header];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.from(`OPTIONS sip:pbx.example.org SIP/2.0\r\nCSeq: ${i + 1} OPTIONS\r\nContent-Length: 0\r\n\r\n`);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(5060, 0);
    udp.writeUInt16BE(5060, 2);
    udp.writeUInt16BE(8 + payload.length, 4);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + 8 + payload.length, 2);
    ip[8] = 64;
    ip[9] = 17;
    for (let k = 0; k < 4; k++) ip[12 + k] = src[k] ?? 0;
    ip.set([198, 51, 100, 10], 16); // TEST-NET-2: data only, never a destination
    const eth = Buffer.concat([Buffer.from('ffffffffffff', 'hex'), macBytes, Buffer.from([0x08, 0x00])]);
    const frame = Buffer.concat([eth, ip, udp, payload]);
    const rec = Buffer.alloc(16);
    const t = startMs + i * 1000;
    rec.writeUInt32LE(Math.floor(t / 1000), 0);
    rec.writeUInt32LE((t % 1000) * 1000, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame);
  }
  return Buffer.concat(parts);
}

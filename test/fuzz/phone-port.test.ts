import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { connect, type TLSSocket } from 'node:tls';
import { startHarness, type Harness } from '../helpers/harness.js';
import { fuzzParams, fuzzTimeout } from './budget.js';

/**
 * Hostile requests against the real phone-facing HTTPS port of a running relay: request
 * lines, targets and headers no phone would send, and telephony notifications with deep
 * nesting, entity expansion and oversized bodies. Every connection gets a well-formed
 * HTTP answer that is a refusal or a normal answer — never a 500, a hang or a crash — and
 * the relay goes on serving real phones afterwards.
 */
let session: Buffer | undefined;

/** One request on its own TLS connection (the session resumed, to keep the budget for the fuzzing). */
function exchange(port: number, request: Buffer, untilMs = 8_000): Promise<string> {
  return new Promise((resolve) => {
    const sock: TLSSocket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'relay.test.example', ...(session ? { session } : {}) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => sock.destroy(), untilMs);
    sock.once('session', (s: Buffer) => (session = s));
    // No half-close after the request: a phone keeps its side open, and after a FIN Node can
    // no longer write a refusal (431/400) for a request it cannot parse.
    sock.on('secureConnect', () => sock.write(request));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

/** The final status of an answer (after any 100 Continue), or undefined if none came. */
function statusOf(answer: string): number | undefined {
  const codes = [...answer.matchAll(/^HTTP\/1\.[01] (\d{3}) /gm)].map((m) => Number(m[1]));
  return codes.filter((c) => c >= 200)[0] ?? codes[0];
}

const token = fc.stringMatching(/^[A-Za-z!#$%&'*+.^_`|~-]{1,12}$/);
const method = fc.oneof(fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH', 'CONNECT', 'PRI'), token, fc.string({ maxLength: 8 }));
const segment = fc.oneof(
  fc.constantFrom(
    '..',
    '.',
    '%2e%2e',
    '%2E%2e',
    '%252e%252e',
    '%2f',
    '%5c',
    '%00',
    '%',
    '%zz',
    '',
    'telnotify',
    'firmware',
    'swupdate',
    'x.ld',
    'phone-sip.zip',
    'capture',
    'upload',
  ),
  fc.string({ maxLength: 12 }),
  fc.webSegment(),
);
const target = fc.oneof(
  fc.tuple(fc.array(segment, { maxLength: 8 }), fc.option(fc.string({ maxLength: 32 }))).map(([s, q]) => `/${s.join('/')}${q === null ? '' : `?${q}`}`),
  fc.webUrl({ withQueryParameters: true }),
  fc.constantFrom('*', '', 'relay.test.example:443', '//x', '/\\..\\..\\etc\\passwd'),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.integer({ min: 1_000, max: 70_000 }).map((n) => `/${'a'.repeat(n)}`),
);
const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', '', 'http/1.1', 'HTTP/1.1 extra');
const headerName = fc.oneof(
  fc.constantFrom(
    'Host',
    'Authorization',
    'X-Forwarded-For',
    'Forwarded',
    'X-Real-IP',
    'Range',
    'If-Range',
    'If-None-Match',
    'If-Modified-Since',
    'Expect',
    'Upgrade',
    'Content-Type',
    'Cookie',
    'Proxy-Connection',
    'Accept-Encoding',
    'Keep-Alive',
  ),
  token,
  fc.string({ maxLength: 16 }),
);
const headerValue = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.integer({ min: 1_000, max: 40_000 }).map((n) => 'v'.repeat(n)),
  fc.constantFrom(
    'bytes=0-',
    'bytes=-1',
    'bytes=5-1',
    'bytes=0-1,2-3,' + '4-5,'.repeat(500),
    'Basic %%%',
    'Basic ' + 'A'.repeat(5000),
    '100-continue',
    'h2c',
    '127.0.0.1, 10.0.0.1',
  ),
);
// Framing headers stay out: a declared body that never comes only tests the request timeout.
const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }).map((hs) => hs.filter(([n]) => !/^(content-length|transfer-encoding|connection)$/i.test(n.trim())));

const request = fc
  .tuple(method, target, version, headers)
  .map(([m, t, v, hs]) => Buffer.from(`${m} ${t} ${v}\r\n${hs.map(([n, val]) => `${n}: ${val}\r\n`).join('')}Connection: close\r\n\r\n`, 'utf8'));

const event = (inner: string) => `<?xml version="1.0"?><PolycomIPPhone>${inner}</PolycomIPPhone>`;
const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const xmlBody = fc.oneof(
  fc
    .tuple(fc.constantFrom('IncomingCallEvent', 'CallStateChangeEvent', 'LineRegistrationEvent', 'OnHookEvent'), fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }))
    .map(([e, a, b]) => event(`<${e}><PhoneIP>127.20.0.1</PhoneIP><MACAddress>${escapeXml(a)}</MACAddress><CallState>${escapeXml(b)}</CallState></${e}>`)),
  fc.integer({ min: 1, max: 60_000 }).map((n) => event(`<E>${'<a>'.repeat(n)}x${'</a>'.repeat(n)}</E>`)),
  fc.integer({ min: 1, max: 8 }).map((n) => {
    // billion laughs, n levels deep
    const ents = Array.from({ length: n }, (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`).join('');
    return `<?xml version="1.0"?><!DOCTYPE PolycomIPPhone [<!ENTITY l0 "lol">${ents}]><PolycomIPPhone><E><F>&l${n};</F></E></PolycomIPPhone>`;
  }),
  fc.constant('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><PolycomIPPhone><E><F>&x;</F></E></PolycomIPPhone>'),
  fc.integer({ min: 60_000, max: 400_000 }).map((n) => event(`<E><F>${'y'.repeat(n)}</F></E>`)),
  fc.integer({ min: 1, max: 20_000 }).map((n) => event(`<E ${Array.from({ length: Math.min(n, 3000) }, (_, i) => `a${i}="v"`).join(' ')}/>`)),
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 8 })).map(([at, junk]) => {
    const good = event('<OnHookEvent><PhoneIP>127.20.0.1</PhoneIP></OnHookEvent>');
    const i = at % good.length;
    return good.slice(0, i) + junk + good.slice(i);
  }),
  fc.string({ unit: 'binary', maxLength: 512 }),
);

describe('fuzz: the phone-facing port', () => {
  let h: Harness;
  let port: number;
  const good = event('<OnHookEvent><PhoneIP>127.20.0.1</PhoneIP><MACAddress>0004f2000001</MACAddress></OnHookEvent>');
  const notify = (body: string) =>
    Buffer.concat([
      Buffer.from(
        `POST /telnotify HTTP/1.1\r\nHost: relay.test.example\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`,
      ),
      Buffer.from(body),
    ]);

  beforeAll(async () => {
    // Refusals count as failures for the IP guard; the fuzzer must not ban itself.
    h = await startHarness({ relayConfig: { ipGuard: { maxFailures: 100_000 }, proxy: { headersTimeoutMs: 2_000, upstreamTimeoutMs: 2_000 } } });
    await h.connected();
    port = h.daemon.addresses.https!.port;
  });
  afterAll(async () => {
    await h?.close();
  });

  it(
    'any request line, target and headers: a well-formed answer, never a 500 or a hang',
    async () => {
      await fc.assert(
        fc.asyncProperty(request, async (req) => {
          const answer = await exchange(port, req);
          const status = statusOf(answer);
          expect(status, `no HTTP answer to ${JSON.stringify(req.toString('latin1').slice(0, 200))}: ${JSON.stringify(answer.slice(0, 200))}`).toBeDefined();
          expect(status, answer.slice(0, 300)).not.toBe(500);
          expect(status! >= 200 && status! < 600).toBe(true);
        }),
        fuzzParams(150),
      );
      expect(statusOf(await exchange(port, notify(good)))).toBe(204);
    },
    fuzzTimeout(150, 150),
  );

  it(
    'telephony notifications: deep nesting, entity expansion, external entities, oversized and mangled XML are refused (400/413), never expanded',
    async () => {
      const rssBefore = process.memoryUsage().rss;
      await fc.assert(
        fc.asyncProperty(xmlBody, async (body) => {
          const status = statusOf(await exchange(port, notify(body)));
          expect([204, 400, 413], `${status} for ${JSON.stringify(body.slice(0, 120))}`).toContain(status);
          if (Buffer.byteLength(body) > 64 * 1024) expect(status).toBe(413);
          if (body.includes('<!DOCTYPE') || body.includes('<!ENTITY')) expect(status).toBe(400);
        }),
        fuzzParams(150),
      );
      // A billion-laughs expansion or a buffered oversized body would show here (GB, not MB).
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
      expect(statusOf(await exchange(port, notify(good)))).toBe(204);
    },
    fuzzTimeout(150, 150),
  );
});

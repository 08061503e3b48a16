import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Client } from 'undici';
import { createCa } from '../../sim/pki.js';
import { firmwareBody, startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { PFX_PASS, basicAuth, phoneClient, rawExchange, relayPki } from '../helpers/phone-client.js';

const MAC = '0004f2a1b2c3';
const LIMIT = 1_000_000;

describe('provisioning pass-through', () => {
  const root = createCa('proxy test root');
  let prov: ProvisioningSimulator;
  let h: Harness;
  let port: number;
  let phone: Client;
  let relayId: string;

  beforeAll(async () => {
    prov = await startProvisioningSimulator({ ca: root, macs: [MAC] });
    const pki = relayPki(tempDir('proxy-pki-'), root);
    h = await startHarness({
      sim: { ca: root, provisioningUrl: prov.url },
      // The upstream timeout applies to every request here: short enough for the 504 test, long
      // enough that a loaded machine's stall of the in-process provisioning server is no timeout.
      relayConfig: { pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS, proxy: { upstreamTimeoutMs: 2_000, maxUploadBytes: LIMIT, headersTimeoutMs: 500 } },
    });
    relayId = await h.registered();
    port = h.daemon.addresses.https!.port;
    phone = phoneClient(port, root.certPem);
  });

  afterAll(async () => {
    await phone?.close();
    await h?.close();
    await prov?.close();
  });

  it('forwards GET with the Authorization unchanged, X-Forwarded-For and X-Relay-Id added', async () => {
    const res = await phone.request({ method: 'GET', path: '/000000000000.cfg', headers: { authorization: basicAuth(), 'x-forwarded-for': '192.0.2.1', 'x-relay-id': 'spoofed' } });
    const body = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(body).toBe(prov.files.get('000000000000.cfg')!.toString());
    const seen = prov.seen('/000000000000.cfg').at(-1)!;
    expect(seen.headers.authorization).toBe(basicAuth());
    expect(seen.headers['x-forwarded-for']).toBe('192.0.2.1, 127.20.0.5');
    expect(seen.headers['x-relay-id']).toBe(relayId);
    expect(seen.headers.host).toBe(new URL(prov.url).host);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('keeps the provisioning URL prefix and the query string', async () => {
    const res = await phone.request({ method: 'GET', path: `/${MAC}.cfg?x=1`, headers: { authorization: basicAuth() } });
    await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(prov.seen(`/${MAC}.cfg`)).toHaveLength(1);
  });

  it('answers HEAD with the upstream length and no body', async () => {
    const res = await phone.request({ method: 'HEAD', path: '/site.cfg', headers: { authorization: basicAuth() } });
    expect(res.statusCode).toBe(200);
    expect(Number(res.headers['content-length'])).toBe(prov.files.get('site.cfg')!.length);
    expect(await res.body.text()).toBe('');
  });

  it('streams a PUT upload to the provisioning server', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'l');
    let sent = 0;
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 12; i++) {
          sent += chunk.length;
          yield chunk;
        }
      })(),
    );
    const res = await phone.request({ method: 'PUT', path: `/${MAC}-app.log`, headers: { authorization: basicAuth(), 'content-length': String(12 * chunk.length) }, body });
    await res.body.text();
    expect(res.statusCode).toBe(201);
    const stored = prov.uploads.get(`${MAC}-app.log`)!;
    expect(stored.length).toBe(sent);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(createHash('sha256').update(Buffer.alloc(sent, 'l')).digest('hex'));
  });

  it('forwards a body declared on a GET instead of leaving the upstream waiting for it', async () => {
    const text = await rawExchange(
      port,
      root.certPem,
      `GET /site.cfg HTTP/1.1\r\nHost: r\r\nAuthorization: ${basicAuth()}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
      { localAddress: '127.20.0.5' },
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('streams a large download intact to a phone that reads slowly (backpressure, no deadlock)', async () => {
    const big = firmwareBody(6 * 1024 * 1024, 5);
    prov.setFile('big-slow.cfg', big);
    const res = await phone.request({ method: 'GET', path: '/big-slow.cfg', headers: { authorization: basicAuth() }, highWaterMark: 16 * 1024 });
    expect(res.statusCode).toBe(200);
    const hash = createHash('sha256');
    let got = 0;
    let nextPause = 1024 * 1024;
    for await (const chunk of res.body) {
      hash.update(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (got >= nextPause) {
        nextPause += 1024 * 1024;
        // A slow phone: the relay's socket fills and it must stop reading upstream meanwhile.
        await new Promise((r) => setTimeout(r, 40));
      }
    }
    expect(got).toBe(big.length);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
  });

  it('forwards POST and DELETE', async () => {
    const post = await phone.request({ method: 'POST', path: `/${MAC}-calls.xml`, headers: { authorization: basicAuth(), 'content-type': 'application/xml' }, body: '<calls/>' });
    await post.body.text();
    expect(post.statusCode).toBe(201);
    expect(prov.uploads.get(`${MAC}-calls.xml`)?.toString()).toBe('<calls/>');
    const del = await phone.request({ method: 'DELETE', path: `/${MAC}-calls.xml`, headers: { authorization: basicAuth() } });
    await del.body.text();
    expect(del.statusCode).toBe(204);
    expect(prov.uploads.has(`${MAC}-calls.xml`)).toBe(false);
  });

  it('passes upstream 401 and 404 through', async () => {
    const bad = await phone.request({ method: 'GET', path: '/site.cfg', headers: { authorization: basicAuth('PlcmSpIp', 'wrong') } });
    await bad.body.text();
    expect(bad.statusCode).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Basic realm="provisioning"');
    const missing = await phone.request({ method: 'GET', path: '/nope.cfg', headers: { authorization: basicAuth() } });
    await missing.body.text();
    expect(missing.statusCode).toBe(404);
  });

  it('drops hop-by-hop headers and those named in Connection', async () => {
    const before = prov.requests.length;
    const text = await rawExchange(
      port,
      root.certPem,
      `GET /site.cfg HTTP/1.1\r\nHost: relay\r\nAuthorization: ${basicAuth()}\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Kept: yes\r\n\r\n`,
      { localAddress: '127.20.0.5' },
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    const seen = prov.requests[before]!;
    expect(seen.headers['x-kept']).toBe('yes');
    for (const h of ['x-secret', 'keep-alive', 'te']) expect(seen.headers[h]).toBeUndefined();
  });

  describe('bad input never reaches the provisioning server', () => {
    const cases: [string, string, RegExp][] = [
      ['dot-dot', 'GET /../etc/passwd HTTP/1.1\r\nHost: r\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['encoded dot-dot', 'GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: r\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['mixed-case encoded dot-dot', 'GET /a/%2E./b HTTP/1.1\r\nHost: r\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['encoded slash', 'GET /..%2fetc%2fpasswd HTTP/1.1\r\nHost: r\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['double-encoded', 'GET /%252e%252e/x HTTP/1.1\r\nHost: r\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['absolute-form', 'GET http://evil.example/site.cfg HTTP/1.1\r\nHost: evil.example\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['CONNECT', 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n', /^HTTP\/1\.1 400 /],
      ['headers over 16 KiB', `GET /site.cfg HTTP/1.1\r\nHost: r\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
    ];
    it.each(cases)('%s', async (_name, request, expected) => {
      const before = prov.requests.length;
      const text = await rawExchange(port, root.certPem, request);
      expect(text).toMatch(expected);
      expect(prov.requests.length).toBe(before);
    });

    it('cuts a client that does not finish its headers in time', async () => {
      const before = prov.requests.length;
      const t0 = Date.now();
      const text = await rawExchange(port, root.certPem, 'GET /site.cfg HTTP/1.1\r\nHost: r\r\nX-Slow: ', { untilMs: 10_000 });
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(prov.requests.length).toBe(before);
    });

    it('refuses an upload over the limit at once, without reading it', async () => {
      const before = prov.requests.length;
      const text = await rawExchange(port, root.certPem, `PUT /${MAC}-app.log HTTP/1.1\r\nHost: r\r\nAuthorization: ${basicAuth()}\r\nContent-Length: ${LIMIT + 1}\r\n\r\npartial`);
      expect(text).toMatch(/^HTTP\/1\.1 413 /);
      expect(prov.requests.length).toBe(before);
    });

    it('refuses a chunked upload once it passes the limit', async () => {
      const big = Readable.from(
        (function* () {
          for (let i = 0; i < 40; i++) yield Buffer.alloc(64 * 1024, 'x');
        })(),
      );
      const res = await phone.request({ method: 'PUT', path: `/${MAC}-phone.cfg`, headers: { authorization: basicAuth() }, body: big }).catch((err: unknown) => err);
      if (res instanceof Error) return; // the relay may cut the connection while the client still sends
      await (res as { body: { text(): Promise<string> } }).body.text();
      expect((res as { statusCode: number }).statusCode).toBe(413);
      expect(prov.uploads.has(`${MAC}-phone.cfg`)).toBe(false);
    });
  });

  it('answers 504 when the provisioning server is too slow, and logs the phone IP and path', async () => {
    prov.behave('/slow.cfg', { delayMs: 5_000 });
    prov.setFile('slow.cfg', 'late');
    const res = await phone.request({ method: 'GET', path: '/slow.cfg', headers: { authorization: basicAuth() } });
    expect(res.statusCode).toBe(504);
    expect(await res.body.text()).toMatch(/timed out/);
    const line = await waitFor(() => h.logs.find((l) => l.msg === 'provisioning server timed out'));
    expect(line).toMatchObject({ ip: '127.20.0.5', path: '/slow.cfg' });
  });

  it('answers 502 when the provisioning server is unreachable', async () => {
    await prov.close();
    const res = await phone.request({ method: 'GET', path: '/site.cfg', headers: { authorization: basicAuth() } });
    expect(res.statusCode).toBe(502);
    expect(await res.body.text()).toMatch(/unreachable/);
    const line = await waitFor(() => h.logs.find((l) => l.msg === 'provisioning server unreachable'));
    expect(line).toMatchObject({ ip: '127.20.0.5', path: '/site.cfg' });
  });
});

describe('provisioning pass-through before registration', () => {
  it('answers 503 with a clear body while the relay is not registered', async () => {
    const root = createCa('unregistered test root');
    const pki = relayPki(tempDir('proxy-unreg-'), root);
    const h = await startHarness({ sim: { ca: root }, pin: '000000', relayConfig: { pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS, shutdownGraceSeconds: 1 } });
    const phone = phoneClient(h.daemon.addresses.https!.port, root.certPem, '127.20.0.77');
    try {
      const res = await phone.request({ method: 'GET', path: '/000000000000.cfg', headers: { authorization: basicAuth() } });
      expect(res.statusCode).toBe(503);
      expect(await res.body.text()).toMatch(/not registered/);
      expect(res.headers['retry-after']).toBe('30');
      // Once the phone port is closing, idle keep-alive connections are closed too; a request
      // on a fresh connection (the port itself is still bound in this test) gets 503.
      const disconnected = new Promise((resolve) => phone.once('disconnect', resolve));
      h.daemon.draining.close();
      await disconnected;
      const draining = await phone.request({ method: 'GET', path: '/000000000000.cfg', headers: { authorization: basicAuth() } });
      expect(draining.statusCode).toBe(503);
      expect(await draining.body.text()).toMatch(/shutting down/);
    } finally {
      await phone.close();
      await h.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { noProxyMatch, parseNoProxy } from '../../src/dms/no-proxy.js';
import { OutboundProxy, proxySecrets, redactProxyUrl } from '../../src/dms/outbound-proxy.js';
import { loadConfig, redactedConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { diagnoseProxyFailure, diagnoseUpgradeAnswer, diagnoseUpgradeError } from '../../src/dms/proxy-diagnosis.js';

const matches = (list: string, host: string, port = 443) => noProxyMatch(parseNoProxy(list), host, port)?.text;

describe('NO_PROXY', () => {
  it('matches host names by suffix on a label boundary, with or without a leading dot or *.', () => {
    expect(matches('example.com', 'example.com')).toBe('example.com');
    expect(matches('example.com', 'dms.EXAMPLE.com')).toBe('example.com');
    expect(matches('example.com', 'badexample.com')).toBeUndefined();
    expect(matches('.example.com', 'dms.example.com')).toBe('.example.com');
    expect(matches('*.example.com', 'dms.example.com')).toBe('*.example.com');
    expect(matches('example.com.', 'dms.example.com.')).toBe('example.com.');
    expect(matches('corp', 'dms.example.com')).toBeUndefined();
  });

  it('* sends everything direct; a port narrows an entry to that port', () => {
    expect(matches('*', 'anything.example')).toBe('*');
    expect(matches('dms.example.com:8443', 'dms.example.com', 8443)).toBe('dms.example.com:8443');
    expect(matches('dms.example.com:8443', 'dms.example.com', 443)).toBeUndefined();
    expect(matches('[::1]:443', '[::1]', 443)).toBe('[::1]:443');
    expect(matches('127.0.0.1:9', '127.0.0.1', 443)).toBeUndefined();
  });

  it('matches addresses and CIDR ranges, IPv4 and IPv6, for hosts written as addresses only', () => {
    expect(matches('127.0.0.0/8', '127.0.0.1')).toBe('127.0.0.0/8');
    expect(matches('10.0.0.0/8', '11.0.0.1')).toBeUndefined();
    expect(matches('198.51.100.7', '198.51.100.7')).toBe('198.51.100.7');
    expect(matches('fd00::/8', '[fd12::1]')).toBe('fd00::/8');
    expect(matches('fd00::/8', '[fe80::1]')).toBeUndefined();
    expect(matches('::1', '[::1]')).toBe('::1');
    expect(matches('127.0.0.0/8', '::ffff:127.0.0.1')).toBe('127.0.0.0/8');
    // Names are not resolved: the decision is made before DNS, as curl does.
    expect(matches('127.0.0.0/8', 'localhost')).toBeUndefined();
  });

  it('separates entries by commas or spaces and reports entries it cannot read', () => {
    const l = parseNoProxy(' a.example, b.example  10.0.0.0/33,bad_host!,x.example:99999 ');
    expect(l.rules.map((r) => r.text)).toEqual(['a.example', 'b.example']);
    expect(l.problems).toHaveLength(3);
  });
});

describe('outbound proxy choice', () => {
  it('has no proxy by default', () => {
    const r = OutboundProxy.from({}, {}).routeFor('https://dms.example/');
    expect(r.proxy).toBeUndefined();
    expect(r.why).toMatch(/no proxy configured/);
  });

  it('lower-case variables win over upper-case; https targets read https_proxy, http targets http_proxy', () => {
    const p = OutboundProxy.from({}, { HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2', HTTP_PROXY: 'http://plain:3' });
    expect(p.routeFor('https://dms.example/').proxy?.url.host).toBe('lower:2');
    expect(p.routeFor('wss://dms.example/control').proxy?.source).toBe('https_proxy');
    expect(p.routeFor('http://images.example/').proxy?.url.host).toBe('plain:3');
  });

  it('outboundProxy.url wins over the variables, its noProxy over NO_PROXY; bare host:port is an http proxy', () => {
    const p = OutboundProxy.from({ url: 'proxy.corp:3128', noProxy: ['dms.example'] }, { https_proxy: 'http://other:1', NO_PROXY: '*' });
    expect(p.routeFor('https://cdn.example/').proxy?.url.toString()).toBe('http://proxy.corp:3128/');
    expect(p.routeFor('https://cdn.example/').why).toBe('through proxy http://proxy.corp:3128 (from outboundProxy.url)');
    expect(p.routeFor('https://dms.example/').why).toBe('direct: outboundProxy.noProxy entry "dms.example" matches dms.example');
  });

  it('NO_PROXY applies to a proxy from the variables; no_proxy wins over NO_PROXY', () => {
    const p = OutboundProxy.from({}, { https_proxy: 'http://p:1', no_proxy: '127.0.0.0/8', NO_PROXY: '*' });
    expect(p.routeFor('https://127.0.0.1:8443/').why).toBe('direct: no_proxy entry "127.0.0.0/8" matches 127.0.0.1:8443');
    expect(p.routeFor('https://dms.example/').proxy).toBeDefined();
  });

  it('Basic credentials from the URL or the credentials setting (which wins); the password shows nowhere', () => {
    const fromUrl = OutboundProxy.from({ url: 'http://al%40ice:s3cr%3At@proxy:3128' }, {}).routeFor('https://d/').proxy!;
    expect(fromUrl.authorization).toBe(`Basic ${Buffer.from('al@ice:s3cr:t').toString('base64')}`);
    expect(fromUrl.url.toString()).toBe('http://proxy:3128/');
    expect(fromUrl.shown).toBe('http://al%40ice:redacted@proxy:3128');
    const fromFile = OutboundProxy.from({ url: 'http://u:old@proxy:3128', credentials: 'bob:n3w:pw' }, {}).routeFor('https://d/').proxy!;
    expect(fromFile.authorization).toBe(`Basic ${Buffer.from('bob:n3w:pw').toString('base64')}`);
    expect(fromFile.user).toBe('bob');
    expect(redactProxyUrl('http://u:pw@p:1')).toBe('http://u:redacted@p:1');
    expect(proxySecrets({ credentials: 'bob:pw1' }, { HTTPS_PROXY: 'http://u:pw2@p:1' })).toEqual(['pw2', 'pw2', 'pw1']);
  });

  it('a malformed or unsupported proxy URL is a config error naming where it came from', () => {
    expect(() => OutboundProxy.from({}, { HTTPS_PROXY: 'socks5://p:1080' })).toThrow(ConfigError);
    expect(() => OutboundProxy.from({}, { HTTPS_PROXY: 'socks5://p:1080' })).toThrow(/HTTPS_PROXY/);
    expect(() => OutboundProxy.from({ url: 'http://p:1/path' }, {})).toThrow(/no path/);
  });

  it('config: env CLOUD_RELAY_OUTBOUND_PROXY_URL, the standard variables captured, the password redacted in `config`', () => {
    const cfg = loadConfig({
      env: {
        CLOUD_RELAY_DMS_URL: 'https://dms.example',
        CLOUD_RELAY_FQDN: 'relay.example',
        CLOUD_RELAY_OUTBOUND_PROXY_URL: 'http://u:topsecret@proxy:3128',
        CLOUD_RELAY_OUTBOUND_PROXY_NO_PROXY: '10.0.0.0/8, .corp',
        NO_PROXY: 'x.example',
        PATH: '/bin',
      },
    });
    expect(cfg.outboundProxy.url).toBe('http://u:topsecret@proxy:3128');
    expect(cfg.outboundProxy.noProxy).toEqual(['10.0.0.0/8', '.corp']);
    expect(cfg.proxyEnvironment).toEqual({ NO_PROXY: 'x.example' });
    expect(JSON.stringify(redactedConfig(cfg))).not.toContain('topsecret');
    expect(() => loadConfig({ env: { CLOUD_RELAY_DMS_URL: 'https://d', CLOUD_RELAY_FQDN: 'r.example', CLOUD_RELAY_OUTBOUND_PROXY_NO_PROXY: '10.0.0.0/40' } })).toThrow(
      /outboundProxy.noProxy/,
    );
  });
});

describe('proxy diagnoses', () => {
  const via = OutboundProxy.from({ url: 'http://u:pw@proxy.corp:3128' }, {}).routeFor('https://dms.example/');
  const direct = OutboundProxy.none().routeFor('https://dms.example/');
  const tunnelRefused = (status: number) => Object.assign(new Error(`Proxy response (${status}) !== 200 when HTTP Tunneling`), { code: 'UND_ERR_ABORTED' });
  const code = (err: unknown) => diagnoseProxyFailure(err, via, 'https://dms.example/')?.code;

  it('names each answer to CONNECT: credentials, policy, the DMS beyond the proxy', () => {
    expect(code(tunnelRefused(407))).toBe('PROXY_AUTH_FAILED');
    expect(code(tunnelRefused(401))).toBe('PROXY_AUTH_FAILED');
    expect(diagnoseProxyFailure(tunnelRefused(407), via, 'https://dms.example/')?.message).toContain('user "u"');
    expect(code(tunnelRefused(403))).toBe('PROXY_CONNECT_REFUSED');
    expect(code(tunnelRefused(502))).toBe('DMS_UNREACHABLE_BEYOND_PROXY');
  });

  it('names an unreachable proxy and untrusted TLS inside the tunnel, through causes and AggregateErrors', () => {
    expect(code(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3128'), { code: 'ECONNREFUSED' }))).toBe('PROXY_UNREACHABLE');
    expect(code(new AggregateError([Object.assign(new Error('x'), { code: 'ENOTFOUND' })]))).toBe('PROXY_UNREACHABLE');
    expect(code(new Error('fetch failed', { cause: Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }) }))).toBe(
      'DMS_TLS_UNTRUSTED_BEHIND_PROXY',
    );
    expect(code(new Error('something else'))).toBeUndefined();
    // A direct route keeps the DMS client's own codes.
    expect(diagnoseProxyFailure(tunnelRefused(407), direct, 'https://dms.example/')).toBeUndefined();
  });

  it("tells the proxy's answer at the upgrade from the DMS's own, and a mangled upgrade", () => {
    const url = 'wss://dms.example/control';
    expect(diagnoseUpgradeAnswer(via, 407, 407, url)?.code).toBe('PROXY_AUTH_FAILED');
    expect(diagnoseUpgradeAnswer(via, 200, 401, url)).toBeUndefined();
    expect(diagnoseUpgradeAnswer(via, 200, 503, url)).toBeUndefined();
    expect(diagnoseUpgradeAnswer(via, 200, 200, url)?.code).toBe('PROXY_WEBSOCKET_REFUSED');
    expect(diagnoseUpgradeAnswer(via, 200, 403, url)?.code).toBe('PROXY_WEBSOCKET_REFUSED');
    expect(diagnoseUpgradeAnswer(direct, undefined, 403, url)).toBeUndefined();
    expect(diagnoseUpgradeError(new Error('Invalid Upgrade header'), via, url)?.code).toBe('PROXY_WEBSOCKET_REFUSED');
    expect(diagnoseUpgradeError(new Error('Invalid Upgrade header'), direct, url)).toBeUndefined();
  });
});

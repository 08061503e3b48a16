import { ConfigError } from '../errors.js';
import { noProxyMatch, parseNoProxy, type NoProxyList } from './no-proxy.js';

/** The standard variables, in the order they are consulted: lower-case wins, as curl and undici read them. */
export const PROXY_ENV_NAMES = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY', 'no_proxy', 'NO_PROXY'] as const;
export type ProxyEnvironment = Partial<Record<(typeof PROXY_ENV_NAMES)[number], string>>;

/** The `outboundProxy` settings (credentials already read from credentialsFile). */
export interface OutboundProxySettings {
  readonly url?: string | undefined;
  /** `user:password`; wins over credentials in the URL. */
  readonly credentials?: string | undefined;
  readonly noProxy?: readonly string[] | undefined;
}

/** A proxy server the relay may tunnel through. */
export interface ProxyServer {
  /** Where to connect, without credentials. */
  readonly url: URL;
  /** The URL as logs, status and `doctor` may show it: any password replaced. */
  readonly shown: string;
  /** Which setting or variable named it. */
  readonly source: string;
  /** `Basic …` for Proxy-Authorization, when credentials were given. */
  readonly authorization?: string;
  /** The user name sent (never the password), for diagnoses. */
  readonly user?: string;
}

/** How one connection to a DMS host is made, and why (doctor and status say it in these words). */
export interface Route {
  readonly proxy: ProxyServer | undefined;
  readonly why: string;
}

/** Shows a proxy URL with its password replaced (the URL may carry `user:password@`). */
export function redactProxyUrl(text: string): string {
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
    if (u.password) u.password = 'redacted';
    return u.toString().replace(/\/$/, '');
  } catch {
    return text.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:redacted@');
  }
}

/** Every proxy password the settings and variables hold (a support bundle scrubs them). */
export function proxySecrets(settings: OutboundProxySettings, env: ProxyEnvironment): string[] {
  const out: string[] = [];
  const pw = (text: string | undefined) => {
    if (!text) return;
    try {
      const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
      if (u.password) out.push(u.password, decodeURIComponent(u.password));
    } catch {
      // not a URL: nothing of it is a password we could find
    }
  };
  pw(settings.url);
  for (const n of PROXY_ENV_NAMES) pw(env[n]);
  const c = settings.credentials;
  if (c && c.includes(':')) out.push(c.slice(c.indexOf(':') + 1));
  return out;
}

function proxyServer(text: string, source: string, credentials: string | undefined): ProxyServer {
  let url: URL;
  try {
    // curl takes a bare host:port as an http proxy; so do we.
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new ConfigError([{ path: source, message: `${redactProxyUrl(text)} is not a proxy URL (http://[user:password@]host:port)` }]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError([{ path: source, message: `${redactProxyUrl(text)}: only http:// and https:// proxies are supported (HTTP CONNECT)` }]);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash)
    throw new ConfigError([{ path: source, message: `${redactProxyUrl(text)}: a proxy URL has no path or query (http://host:port)` }]);
  let user: string | undefined;
  let password: string | undefined;
  if (credentials !== undefined) {
    const colon = credentials.indexOf(':');
    if (colon <= 0) throw new ConfigError([{ path: 'outboundProxy.credentials', message: 'must be user:password' }]);
    user = credentials.slice(0, colon);
    password = credentials.slice(colon + 1);
  } else if (url.username) {
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  }
  const shown = redactProxyUrl(text);
  url.username = '';
  url.password = '';
  return {
    url,
    shown,
    source,
    ...(user !== undefined ? { user, authorization: `Basic ${Buffer.from(`${user}:${password ?? ''}`).toString('base64')}` } : {}),
  };
}

/**
 * Decides, per DMS URL, whether the connection goes through an HTTP proxy: `outboundProxy.url`
 * wins over `https_proxy`/`HTTPS_PROXY` (for https targets) and `http_proxy`/`HTTP_PROXY` (for
 * http ones); `outboundProxy.noProxy` wins over `no_proxy`/`NO_PROXY`. Phones never come here:
 * only the DMS client's transport asks.
 */
export class OutboundProxy {
  private constructor(
    private readonly forHttps: ProxyServer | undefined,
    private readonly forHttp: ProxyServer | undefined,
    readonly noProxy: NoProxyList,
    /** Where the NO_PROXY list came from (`outboundProxy.noProxy`, `no_proxy`, …), undefined when none. */
    readonly noProxySource: string | undefined,
  ) {}

  /** No proxy at all: every connection direct. */
  static none(): OutboundProxy {
    return new OutboundProxy(undefined, undefined, { rules: [], problems: [] }, undefined);
  }

  /** From the settings and the process's standard variables; a malformed URL is a ConfigError naming its source. */
  static from(settings: OutboundProxySettings, env: ProxyEnvironment): OutboundProxy {
    const pick = (...names: (keyof ProxyEnvironment)[]) => {
      for (const n of names) {
        const v = env[n]?.trim();
        if (v) return { value: v, name: n as string };
      }
      return undefined;
    };
    const creds = settings.credentials;
    let forHttps: ProxyServer | undefined;
    let forHttp: ProxyServer | undefined;
    if (settings.url) {
      forHttps = forHttp = proxyServer(settings.url, 'outboundProxy.url', creds);
    } else {
      const https = pick('https_proxy', 'HTTPS_PROXY');
      const http = pick('http_proxy', 'HTTP_PROXY');
      forHttps = https ? proxyServer(https.value, https.name, creds) : undefined;
      forHttp = http ? proxyServer(http.value, http.name, creds) : undefined;
    }
    let noProxy: NoProxyList = { rules: [], problems: [] };
    let noProxySource: string | undefined;
    if (settings.noProxy !== undefined) {
      noProxy = parseNoProxy(settings.noProxy);
      noProxySource = 'outboundProxy.noProxy';
    } else {
      const np = pick('no_proxy', 'NO_PROXY');
      if (np) {
        noProxy = parseNoProxy(np.value);
        noProxySource = np.name;
      }
    }
    return new OutboundProxy(forHttps, forHttp, noProxy, noProxySource);
  }

  /** Whether any proxy is configured (for any scheme). */
  get configured(): boolean {
    return this.forHttps !== undefined || this.forHttp !== undefined;
  }

  /** The route to `target` (a URL or origin), with the reason in words. */
  routeFor(target: string | URL): Route {
    const u = typeof target === 'string' ? new URL(target) : target;
    const secure = u.protocol === 'https:' || u.protocol === 'wss:';
    const proxy = secure ? this.forHttps : this.forHttp;
    const vars = secure ? 'outboundProxy.url, https_proxy and HTTPS_PROXY' : 'outboundProxy.url, http_proxy and HTTP_PROXY';
    if (!proxy) return { proxy: undefined, why: `direct: no proxy configured for ${secure ? 'https' : 'http'} (${vars} unset)` };
    const port = Number(u.port) || (secure ? 443 : 80);
    const rule = noProxyMatch(this.noProxy, u.hostname, port);
    if (rule) return { proxy: undefined, why: `direct: ${this.noProxySource ?? 'NO_PROXY'} entry "${rule.text}" matches ${u.host}` };
    return { proxy, why: `through proxy ${proxy.shown} (from ${proxy.source})` };
  }
}

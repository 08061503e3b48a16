import { Client } from 'undici';

/**
 * A Polycom phone's provisioning boot (device-protocols §3.3), done through the relay the
 * way UC Software does it: boot log upload, master config (own, else 000000000000.cfg), the
 * firmware and config files it names, overrides, directories, then the app log (HEAD + PUT).
 * Written from the device spec only; it shares nothing with the relay's proxy.
 */
export interface PolycomBootOptions {
  /** The relay's phone-facing base URL, e.g. https://127.0.0.1:8443 */
  readonly relayUrl: string;
  /** Name the phone expects in the relay's certificate (the relay FQDN). */
  readonly servername: string;
  /** CA (PEM) the phone trusts for the relay's certificate. */
  readonly ca: string;
  readonly mac: string;
  /** Model code as in the UA and APPLICATION_<MODEL>, e.g. 'VVX_500'. */
  readonly model?: string;
  readonly partNumber?: string;
  readonly appVersion?: string;
  readonly updaterVersion?: string;
  /** The phone's own address (127.20.x.y in tests). */
  readonly localAddress?: string;
  readonly account: { readonly user: string; readonly password: string };
  readonly fetchFirmware?: boolean;
  readonly timeoutMs?: number;
}

export interface BootStep {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly bytes: number;
}

export interface BootResult {
  readonly steps: readonly BootStep[];
  /** Master config actually used. */
  readonly master: string | undefined;
  readonly configFiles: readonly string[];
  /** Every mandatory step answered 2xx (master, its config files, the app log upload). */
  readonly ok: boolean;
  /** The firmware file the master config named, if it was fetched: its path, status and the version in its header. */
  readonly firmware?: { readonly path: string; readonly status: number; readonly bytes: number; readonly version: string | undefined };
}

const VERSION_LINE = /^#SIM-FIRMWARE version=([^\s]+)\n/;

function attr(xml: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(xml);
  return m ? m[1] : undefined;
}

export async function bootPolycomPhone(o: PolycomBootOptions): Promise<BootResult> {
  const model = o.model ?? 'VVX_500';
  const family = model.startsWith('VVX') ? 'VVX' : model.startsWith('SPIP') ? 'SoundPointIP' : 'VVX';
  const app = `FileTransport Polycom${family}-${model}-UA/${o.appVersion ?? '5.9.7.4477'} Type/Application`;
  const updater = `FileTransport Polycom${family}-${model}-UA/${o.updaterVersion ?? '5.9.7.26508'} Type/Updater`;
  const auth = `Basic ${Buffer.from(`${o.account.user}:${o.account.password}`).toString('base64')}`;
  const timeout = o.timeoutMs ?? 10_000;
  const client = new Client(o.relayUrl, {
    connect: { ca: o.ca, servername: o.servername },
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    pipelining: 1,
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });
  const steps: BootStep[] = [];
  const call = async (method: 'GET' | 'HEAD' | 'PUT', path: string, ua: string, body?: string): Promise<{ status: number; text: string }> => {
    const res = await client.request({
      method,
      path,
      headers: { 'user-agent': ua, authorization: auth, ...(body !== undefined ? { 'content-type': 'text/plain' } : {}) },
      ...(body !== undefined ? { body } : {}),
    });
    const buf = Buffer.from(await res.body.arrayBuffer());
    steps.push({ method, path, status: res.statusCode, bytes: buf.length });
    return { status: res.statusCode, text: buf.toString('utf8') };
  };
  // Images are large and many phones boot at once: stream them, keeping only the header line.
  const fetchImage = async (path: string): Promise<NonNullable<BootResult['firmware']>> => {
    const res = await client.request({ method: 'GET', path, headers: { 'user-agent': updater, authorization: auth } });
    let head = Buffer.alloc(0);
    let bytes = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (head.length < 64) head = Buffer.concat([head, chunk.subarray(0, 64 - head.length)]);
      bytes += chunk.length;
    }
    steps.push({ method: 'GET', path, status: res.statusCode, bytes });
    const version = res.statusCode === 200 ? VERSION_LINE.exec(head.toString('latin1'))?.[1] : undefined;
    return { path, status: res.statusCode, bytes, version };
  };
  const mac = o.mac.toLowerCase();
  let ok = true;
  const need = (status: number) => {
    if (status < 200 || status >= 300) ok = false;
  };
  try {
    await call('PUT', `/${mac}-boot.log`, updater, `updater ${o.updaterVersion ?? '5.9.7.26508'} started; mac ${mac}\n`);
    let master: string | undefined = `${mac}.cfg`;
    let got = await call('GET', `/${master}`, app);
    if (got.status === 404) {
      master = '000000000000.cfg';
      got = await call('GET', `/${master}`, app);
    }
    need(got.status);
    if (got.status !== 200) return { steps, master: undefined, configFiles: [], ok: false };
    const code = model.replace(/_/g, '');
    const appFile = attr(got.text, `APP_FILE_PATH_${code}`) ?? attr(got.text, 'APP_FILE_PATH') ?? '';
    const listed = (attr(got.text, `CONFIG_FILES_${code}`) ?? attr(got.text, 'CONFIG_FILES') ?? '')
      .split(',')
      .map((s) =>
        s
          .trim()
          .replace(/\[PHONE_MAC_ADDRESS\]/g, mac)
          .replace(/\[PHONE_MODEL\]/g, code),
      )
      .filter((s) => s !== '');
    let firmware: BootResult['firmware'];
    if (appFile !== '' && o.fetchFirmware !== false) {
      // UC Software asks for the part-number-specific image first, then the generic one.
      const slash = appFile.lastIndexOf('/');
      const specific = `/${appFile.slice(0, slash + 1)}${o.partNumber ?? '3111-44500-001'}.${appFile.slice(slash + 1)}`;
      firmware = await fetchImage(specific);
      if (firmware.status === 404) firmware = await fetchImage(`/${appFile}`);
    }
    for (const f of listed) need((await call('GET', `/${f}`, app)).status);
    for (const f of [`${mac}-phone.cfg`, `${mac}-web.cfg`, `${mac}-directory.xml`, '000000000000-directory.xml']) await call('GET', `/${f}`, app);
    await call('HEAD', `/${mac}-app.log`, app);
    need((await call('PUT', `/${mac}-app.log`, app, `0101000000|cfg  |4|00|Prm|Parameter list loaded from ${master}\n`)).status);
    return { steps, master, configFiles: listed, ok, ...(firmware ? { firmware } : {}) };
  } finally {
    await client.close().catch(() => undefined);
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { knownParam, validParam, type SimPhone } from './phone.js';
import { screenPng } from './media.js';

/**
 * The phone's HTTPS face, answering as Polycom UC Software does (device-protocols.md §1):
 * HTTP 200 with a string `Status`, 404 when the API is off or the endpoint is absent, 401 on
 * bad Basic credentials. Independent of the relay's driver on purpose.
 */

export interface RestContext {
  /** Uploads the phone's background capture to `url` (the farm does the HTTP). */
  uploadCapture(phone: SimPhone, url: string): void;
}

type Obj = Record<string, unknown>;
const MAX_BODY = 256 * 1024;

function send(res: ServerResponse, http: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(http, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
const ok = (res: ServerResponse, data?: unknown) => send(res, 200, data === undefined ? { Status: '2000' } : { Status: '2000', data });
const status = (res: ServerResponse, code: string) => send(res, 200, { Status: code });

async function readJson(req: IncomingMessage): Promise<Obj | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(c);
  }
  if (size === 0) return {};
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
  } catch {
    return undefined;
  }
}

function authorized(phone: SimPhone, req: IncomingMessage): boolean {
  const h = req.headers.authorization ?? '';
  if (!h.startsWith('Basic ')) return false;
  const [user, ...rest] = Buffer.from(h.slice(6), 'base64').toString('utf8').split(':');
  return user === phone.user && rest.join(':') === phone.password;
}

function fmtUptime(s: number): Obj {
  return { Days: String(Math.floor(s / 86400)), Hours: String(Math.floor(s / 3600) % 24), Minutes: String(Math.floor(s / 60) % 60), Seconds: String(s % 60) };
}

function callObj(phone: SimPhone, c: SimPhone['calls'][number]): Obj {
  return {
    CallHandle: c.handle,
    Type: c.type,
    Protocol: 'SIP',
    CallState: c.state,
    LineID: String(c.line),
    CallSequence: '1',
    UIAppearanceIndex: '1*',
    RemotePartyName: c.remote,
    RemotePartyNumber: c.remote,
    Ringing: c.state === 'Offering' ? '1' : '0',
    Muted: '0',
    StartTime: new Date(c.startedAt).toISOString().slice(0, 19),
    DurationSeconds: String(Math.floor((Date.now() - c.startedAt) / 1000)),
    'Media Direction': 'sendrecv',
  };
}

function configOf(phone: SimPhone, source: string | undefined): Obj {
  const out: Obj = {};
  for (const [k, [v, s]] of phone.config) if (!source || source === 'config' || s === source) out[k] = v;
  return out;
}

export async function handleRest(phone: SimPhone, req: IncomingMessage, res: ServerResponse, ctx: RestContext): Promise<void> {
  const f = phone.faults;
  if (f.drop) {
    req.socket.destroy();
    return;
  }
  const url = new URL(req.url ?? '/', 'https://phone');
  const path = url.pathname;
  // Counted on arrival, before any delay: tests see what reached the phone, answered or not.
  phone.hits.set(path, (phone.hits.get(path) ?? 0) + 1);
  if (f.delayMs) await new Promise((r) => setTimeout(r, f.delayMs));
  const method = req.method ?? 'GET';
  const isApi = path.startsWith('/api/');

  if ((isApi && !phone.apiEnabled) || phone.missing.has(path)) return send(res, 404, 'Not Found');

  // Web UI: session login, then the screen image with the cookie.
  if (path === '/form-submit/auth.htm' && method === 'POST') {
    await readJson(req);
    if (!authorized(phone, req)) return send(res, 401, 'Unauthorized', { 'www-authenticate': 'Basic realm="PolycomVVX"' });
    const sid = randomBytes(12).toString('hex');
    phone.sessions.add(sid);
    return send(res, 200, 'lockparams|SUCCESS|0', { 'set-cookie': `Authorization=${sid}; Path=/; HttpOnly` });
  }
  if (path === '/captureScreen' || path === '/captureScreen/mainScreen') {
    const sid = /Authorization=([0-9a-f]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (!sid || !phone.sessions.has(sid)) return send(res, 401, 'Unauthorized');
    if (phone.config.get('up.screenCapture.enabled')?.[0] !== '1') return send(res, 404, 'Not Found');
    const png = screenPng(phone.mac);
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
    res.end(png);
    return;
  }
  if (!isApi) return send(res, 404, 'Not Found');
  if (!authorized(phone, req)) return send(res, 401, 'Unauthorized', { 'www-authenticate': 'Basic realm="PolycomVVX"' });
  if (f.httpStatus) return send(res, f.httpStatus, 'Service Unavailable', f.retryAfterSeconds !== undefined ? { 'retry-after': String(f.retryAfterSeconds) } : {});
  const body = method === 'POST' ? await readJson(req) : {};
  if (body === undefined) return status(res, '4000');
  if (f.busy) return status(res, '4001');
  const data = body.data;
  const d = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Obj) : {};
  const s = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

  switch (`${method} ${path}`) {
    case 'GET /api/v2/mgmt/device/info':
      return ok(res, {
        DeviceType: 'HardwareEndpoint',
        DeviceVendor: 'Polycom',
        ModelNumber: phone.model,
        MACAddress: phone.mac,
        IPAddress: phone.ip,
        Firmware: { Application: `${phone.firmware} 02-Jul-19 06:14`, Updater: '5.9.7.26508', BootBlock: '3.0.6.0098 (48830-001)' },
        UpTime: fmtUptime(phone.uptimeSeconds()),
        AppState: phone.inCall ? 'AppStateCall' : 'AppStateMenu',
        ReadyToUse: 'True',
      });
    case 'GET /api/v1/mgmt/device/info':
      return ok(res, {
        ModelNumber: phone.model,
        MACAddress: phone.mac,
        IPAddress: phone.ip,
        FirmwareRelease: phone.firmware,
        UpTimeSinceLastReboot: `${phone.uptimeSeconds()} secs`,
      });
    case 'GET /api/v1/mgmt/network/info':
      return ok(res, { IPV4Address: phone.ip, SubnetMask: '255.0.0.0', DHCP: 'enabled', ProvServerType: 'HTTPS', ZTPStatus: 'disabled' });
    case 'GET /api/v1/mgmt/network/stats':
      return ok(res, { RxPackets: '1617177', TxPackets: '1279022', UpTime: `${phone.uptimeSeconds()} secs` });
    case 'GET /api/v1/mgmt/device/runningConfig':
      return ok(res, { Network: { IPV4Address: phone.ip }, Provisioning: { Server: 'relay.example.com', Type: 'HTTPS' }, Parameters: configOf(phone, undefined) });
    case 'POST /api/v1/mgmt/config/export': {
      const src = s(d.Source);
      if (!['config', 'local', 'web', 'device'].includes(src)) return status(res, '4000');
      return ok(res, { Source: src, Parameters: configOf(phone, src) });
    }
    case 'GET /api/v1/mgmt/lineInfo':
    case 'GET /api/v2/mgmt/lineInfo':
      return ok(
        res,
        phone.lines.map((l) => ({
          LineNumber: String(l.line),
          RegistrationStatus: l.registered ? 'registered' : 'unregistered',
          LineType: 'private',
          SIPAddress: l.uri,
          Protocol: 'Auto',
          Label: l.uri.split('@')[0],
        })),
      );
    case 'GET /api/v1/mgmt/pollForStatus':
      return ok(res, phone.inCall ? { State: 'Active', StateData: 'Active call duration 0 mins 3 secs' } : { State: 'Idle', StateData: 'Time of last call none' });
    case 'POST /api/v1/mgmt/config/get': {
      if (!Array.isArray(data)) return status(res, '4000');
      if (data.length > 20) return status(res, '4009');
      const out: Obj = {};
      const invalid: string[] = [];
      for (const n of data.map(s)) {
        const v = phone.config.get(n);
        if (v) out[n] = { Value: v[0], Source: v[1] };
        else if (knownParam(n)) out[n] = { Value: '', Source: 'default' };
        else invalid.push(n);
      }
      return send(res, 200, invalid.length > 0 ? { Status: '2000', data: out, InvalidParams: invalid } : { Status: '2000', data: out });
    }
    case 'POST /api/v1/mgmt/config/set': {
      const entries = Object.entries(d);
      if (entries.length === 0) return status(res, '4000');
      if (entries.length > 20) return status(res, '4009');
      for (const [k, v] of entries) if (!validParam(k, s(v))) return status(res, '4000');
      for (const [k, v] of entries) phone.config.set(k, [s(v), 'local']);
      return ok(res);
    }
    case 'POST /api/v1/mgmt/safeRestart':
    case 'POST /api/v1/mgmt/safeReboot':
      phone.requestReboot();
      return ok(res);
    case 'POST /api/v1/mgmt/factoryReset':
      phone.resets.push('factory');
      for (const [k, [, src]] of [...phone.config]) if (src !== 'default') phone.config.delete(k);
      ok(res);
      phone.requestReboot();
      return;
    case 'POST /api/v1/mgmt/configReset':
    case 'POST /api/v1/mgmt/configReset/local':
    case 'POST /api/v1/mgmt/configReset/web':
    case 'POST /api/v1/mgmt/configReset/device':
    case 'POST /api/v1/mgmt/configReset/cloud': {
      const scope = path.split('/')[5] ?? 'all';
      phone.resets.push(scope);
      for (const [k, [, src]] of [...phone.config]) if (src !== 'default' && (scope === 'all' || src === scope)) phone.config.delete(k);
      return ok(res);
    }
    case 'POST /api/v1/mgmt/updateConfiguration':
      phone.syncs++;
      return ok(res);
    case 'GET /api/v1/webCallControl/callStatus': {
      const c = phone.calls[phone.calls.length - 1];
      return c ? ok(res, callObj(phone, c)) : status(res, '4007');
    }
    case 'GET /api/v2/webCallControl/callStatus':
      return ok(
        res,
        phone.calls.map((c) => callObj(phone, c)),
      );
    case 'POST /api/v1/callctrl/dial': {
      const dest = s(d.Dest);
      const line = Number(s(d.Line) || '1');
      if (!dest) return status(res, '4000');
      const l = phone.lines.find((x) => x.line === line);
      if (!l) return status(res, '4005');
      if (!l.registered) return status(res, '4002');
      phone.dial(dest, line);
      return ok(res);
    }
    case 'POST /api/v1/callctrl/endCall':
      return phone.endCall(s(d.Ref) || undefined) ? ok(res) : status(res, '4007');
    case 'POST /api/v1/callctrl/answerCall': {
      const c = phone.calls.find((x) => x.handle === s(d.Ref) || (!d.Ref && x.state === 'Offering'));
      if (!c) return status(res, '4007');
      c.state = 'Connected';
      return ok(res);
    }
    case 'POST /api/v1/mgmt/network/uploadBgCapture': {
      if (phone.config.get('diags.pcap.enabled')?.[0] !== '1' || phone.config.get('diags.pcap.background.enabled')?.[0] !== '1') return status(res, '4003');
      const target = s(d.url);
      if (!target) return status(res, '4006');
      ok(res);
      ctx.uploadCapture(phone, target);
      return;
    }
    default:
      return send(res, 404, 'Not Found');
  }
}

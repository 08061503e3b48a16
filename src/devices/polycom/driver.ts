import { setTimeout as sleep } from 'node:timers/promises';
import { DeviceError } from '../errors.js';
import type {
  CallInfo,
  CallStateInfo,
  CachedImage,
  ConfigSource,
  DeviceInfo,
  DeviceStatus,
  DeviceTarget,
  Driver,
  FirmwareResult,
  LineStatus,
  ParamsRead,
  ResetScope,
  ScreenImage,
} from '../driver.js';
import { PolycomTransport, PhoneStatusError, type TransportOptions } from './transport.js';
import * as I from './inferred.js';
import type { FirmwareServed, FirmwareWait } from '../firmware.js';
import { updatePolycomFirmware } from './firmware-update.js';

export interface PolycomDriverOptions extends TransportOptions {
  /** Overrides the dial confirmation polling (tests use a short interval). */
  readonly dialConfirm?: { attempts: number; intervalMs: number };
  readonly firmwareServed?: FirmwareServed | undefined;
  readonly firmwareWait?: FirmwareWait | undefined;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Polycom UC Software REST API (device-protocols.md §1). */
export class PolycomDriver implements Driver {
  private readonly http: PolycomTransport;
  private readonly dialConfirm: { attempts: number; intervalMs: number };
  private readonly firmwareServed: FirmwareServed | undefined;
  private readonly firmwareWait: FirmwareWait;

  constructor(opts: PolycomDriverOptions) {
    this.http = new PolycomTransport(opts);
    this.dialConfirm = opts.dialConfirm ?? I.DIAL_CONFIRM;
    this.firmwareServed = opts.firmwareServed;
    this.firmwareWait = opts.firmwareWait ?? I.FIRMWARE_WAIT;
  }

  updateFirmware(t: DeviceTarget, image: CachedImage, mode: 'trigger' | 'verify'): Promise<FirmwareResult> {
    return updatePolycomFirmware(this, { wait: this.firmwareWait, served: this.firmwareServed, now: () => Date.now() }, t, image, mode);
  }

  /** Info, lines and call state: three calls on one kept-alive connection. */
  async readStatus(t: DeviceTarget, now: number): Promise<DeviceStatus> {
    const info = await this.info(t);
    const lines = await this.lines(t);
    const call = await this.callState(t);
    return {
      online: true,
      uptimeSeconds: info.uptimeSeconds,
      lastRebootAt: new Date(Math.floor((now - info.uptimeSeconds * 1000) / 1000) * 1000).toISOString(),
      lines: lines.map((l) => ({ line: l.line, uri: l.uri, registered: l.registered })),
      callState: call.state,
      firmware: info.firmware,
    };
  }

  async reboot(t: DeviceTarget): Promise<{ deferred: boolean }> {
    const call = await this.callState(t);
    await this.http.call(t, 'POST', I.REBOOT_PATH);
    return { deferred: call.state === 'in_call' };
  }

  async dial(t: DeviceTarget, to: string, dialType: 'sip' | 'tel', line: number): Promise<{ callHandle: string; callState: string }> {
    const before = new Set((await this.callState(t)).calls.map((c) => c.handle));
    await this.http.call(t, 'POST', '/api/v1/callctrl/dial', { Dest: to, Line: String(line), Type: dialType === 'tel' ? 'TEL' : 'SIP' });
    // The dial answer is only an acknowledgement (§1.3): success means the call shows up.
    for (let i = 0; i < this.dialConfirm.attempts; i++) {
      let now;
      try {
        now = await this.callState(t);
      } catch (err) {
        // The dial was accepted: whatever goes wrong now must never lead to dialling again.
        throw new DeviceError(
          'PHONE_ERROR',
          `the phone accepted the dial to ${to} but its call status could not be read to confirm it: ${err instanceof Error ? err.message : String(err)}`,
          { reached: true, cause: err },
        );
      }
      const fresh = now.calls.find((c) => !before.has(c.handle) && I.LIVE_CALL_STATES.has(c.state));
      if (fresh) return { callHandle: fresh.handle, callState: fresh.state };
      if (i + 1 < this.dialConfirm.attempts) await sleep(this.dialConfirm.intervalMs);
    }
    throw new DeviceError('PHONE_ERROR', `the phone acknowledged the dial to ${to} but no call appeared in its call status`, { reached: true });
  }

  async reset(t: DeviceTarget, scope: ResetScope): Promise<void> {
    if (I.REFUSE_RESET_IN_CALL && (await this.callState(t)).state === 'in_call') {
      throw new DeviceError('BUSY', 'the phone is in a call; reset not sent', { reached: false });
    }
    await this.http.call(t, 'POST', I.RESET_PATHS[scope]);
  }

  async getParams(t: DeviceTarget, names: readonly string[]): Promise<ParamsRead> {
    const values: Record<string, { value: string; source: string }> = {};
    const invalid: string[] = [];
    for (const part of chunk(names, I.MAX_PARAMS_PER_CALL)) {
      const env = await this.http.call(t, 'POST', '/api/v1/mgmt/config/get', part);
      if (isObj(env.data)) {
        for (const [k, v] of Object.entries(env.data)) {
          if (isObj(v)) values[k] = { value: str(v.Value), source: str(v.Source) };
        }
      }
      const bad = env.body.InvalidParams ?? (isObj(env.data) ? env.data.InvalidParams : undefined);
      if (Array.isArray(bad)) invalid.push(...bad.map(str));
      delete values.InvalidParams;
    }
    return { values, invalid };
  }

  async setParams(t: DeviceTarget, values: Readonly<Record<string, string>>): Promise<{ chunks: number }> {
    const parts = chunk(Object.entries(values), I.MAX_PARAMS_PER_CALL);
    let done = 0;
    for (const part of parts) {
      try {
        await this.http.call(t, 'POST', '/api/v1/mgmt/config/set', Object.fromEntries(part));
      } catch (err) {
        if (err instanceof DeviceError && done > 0)
          throw new DeviceError(err.code, `${err.message} (after ${done} of ${parts.length} chunks of 20 were applied)`, { reached: true, cause: err });
        throw err;
      }
      done++;
    }
    return { chunks: done };
  }

  async getConfig(t: DeviceTarget, source: ConfigSource): Promise<unknown> {
    if (source === 'all') return (await this.http.call(t, 'GET', I.RUNNING_CONFIG_PATH)).data;
    return (await this.http.call(t, 'POST', I.CONFIG_EXPORT_PATH, { Source: I.CONFIG_EXPORT_SOURCE[source] })).data;
  }

  async screenCapture(t: DeviceTarget): Promise<ScreenImage> {
    const login = await this.http.raw(t, 'POST', I.SCREEN_LOGIN_PATH);
    await login.body.dump();
    if (login.statusCode === 401 || login.statusCode === 403)
      throw new DeviceError('AUTH_FAILED', `web login on ${t.ip} refused the credentials (HTTP ${login.statusCode})`, { reached: true });
    if (login.statusCode === 404) throw new DeviceError('NOT_SUPPORTED', `${t.ip} has no web login (${I.SCREEN_LOGIN_PATH}): no screen capture on this model`, { reached: true });
    if (login.statusCode >= 300) throw new DeviceError('HTTP_ERROR', `web login on ${t.ip}: HTTP ${login.statusCode}`, { reached: true });
    const setCookie = login.headers['set-cookie'];
    const cookie = (Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []).map((c) => c.split(';')[0]).join('; ');
    for (const path of I.SCREEN_PATHS) {
      const res = await this.http.raw(t, 'GET', path, { headers: cookie ? { cookie } : {} });
      if (res.statusCode === 404) {
        await res.body.dump();
        continue;
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new DeviceError(res.statusCode === 401 || res.statusCode === 403 ? 'AUTH_FAILED' : 'HTTP_ERROR', `GET ${path} on ${t.ip}: HTTP ${res.statusCode}`, { reached: true });
      }
      const type = str(res.headers['content-type']).split(';')[0]?.trim().toLowerCase() ?? '';
      return { body: res.body, contentType: type || 'application/octet-stream', ext: I.SCREEN_TYPES[type] ?? 'img' };
    }
    throw new DeviceError(
      'PHONE_ERROR',
      `screen capture is off on ${t.ip}: set up.screenCapture.enabled=1 and enable it on the handset (Settings > Basic > Preferences > Screen Capture; it resets on reboot)`,
      { reached: true },
    );
  }

  async pcapStart(t: DeviceTarget, opts: { filter?: string | undefined; maxMb: number; maxMinutes: number }): Promise<void> {
    const p = I.PCAP_PARAMS;
    await this.http.call(t, 'POST', '/api/v1/mgmt/config/set', {
      [p.enabled]: '1',
      [p.sizeMb]: String(opts.maxMb),
      [p.durationMinutes]: String(opts.maxMinutes),
      [p.filter]: opts.filter ?? '',
      [p.background]: '1',
    });
  }

  async pcapStop(t: DeviceTarget, uploadUrl: string): Promise<void> {
    await this.http.call(t, 'POST', '/api/v1/mgmt/network/uploadBgCapture', { url: uploadUrl });
    await this.http.call(t, 'POST', '/api/v1/mgmt/config/set', { [I.PCAP_PARAMS.background]: '0' });
  }

  async pcapCancel(t: DeviceTarget): Promise<void> {
    await this.http.call(t, 'POST', '/api/v1/mgmt/config/set', { [I.PCAP_PARAMS.background]: '0' });
  }

  async adPassword(t: DeviceTarget, password: string): Promise<void> {
    await this.http.call(t, 'POST', '/api/v1/mgmt/config/set', { [I.AD_PASSWORD_PARAM]: password });
  }

  async checkSync(t: DeviceTarget): Promise<void> {
    await this.http.call(t, 'POST', '/api/v1/mgmt/updateConfiguration');
  }

  async info(t: DeviceTarget): Promise<DeviceInfo> {
    const env = await this.http.call(t, 'GET', '/api/v2/mgmt/device/info');
    const d = isObj(env.data) ? env.data : {};
    const fw = isObj(d.Firmware) ? str(d.Firmware.Application) : str(d.FirmwareRelease);
    const up = isObj(d.UpTime) ? d.UpTime : {};
    const n = (k: string): number => Number(str(up[k])) || 0;
    return {
      model: str(d.ModelNumber),
      mac: str(d.MACAddress).toLowerCase(),
      // The application string carries a build date ("5.9.3.2857 02-Jul-19 06:14"); the version is the first word.
      firmware: fw.split(' ')[0] ?? fw,
      uptimeSeconds: ((n('Days') * 24 + n('Hours')) * 60 + n('Minutes')) * 60 + n('Seconds'),
    };
  }

  async lines(t: DeviceTarget): Promise<LineStatus[]> {
    const env = await this.http.call(t, 'GET', '/api/v2/mgmt/lineInfo');
    const rows = Array.isArray(env.data) ? env.data : [];
    return rows.filter(isObj).map((r) => ({
      line: Number(str(r.LineNumber)) || 0,
      uri: str(r.SIPAddress),
      registered: str(r.RegistrationStatus).toLowerCase() === 'registered',
    }));
  }

  async callState(t: DeviceTarget): Promise<CallStateInfo> {
    let data: unknown;
    try {
      data = (await this.http.call(t, 'GET', '/api/v2/webCallControl/callStatus')).data;
    } catch (err) {
      // 4007 "call does not exist" is how some firmware says idle (§1.2).
      if (err instanceof PhoneStatusError && err.phoneStatus === '4007') return { state: 'idle', calls: [] };
      throw err;
    }
    const rows = Array.isArray(data) ? data : isObj(data) ? [data] : [];
    const calls: CallInfo[] = rows.filter(isObj).map((c) => ({ handle: str(c.CallHandle), state: str(c.CallState), type: str(c.Type), remote: str(c.RemotePartyNumber) }));
    const live = calls.filter((c) => c.state !== 'Free' && c.state !== 'Disconnected');
    return { state: live.length > 0 ? 'in_call' : 'idle', calls: live };
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

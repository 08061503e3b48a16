import { randomBytes } from 'node:crypto';

/**
 * One simulated Polycom phone's state: identity, typed configuration, calls, reboot and
 * faults. The HTTP face is rest.ts; the farm owns sockets. Times are real milliseconds, kept
 * short by the options so tests run fast.
 */

export interface SimFaults {
  /** Answer every request this much later. */
  delayMs?: number;
  /** Answer every API request with this HTTP status (e.g. 500, 503). */
  httpStatus?: number;
  /** Retry-After seconds sent with httpStatus 503/429. */
  retryAfterSeconds?: number;
  /** Close the connection without answering. */
  drop?: boolean;
  /** Answer API calls with Status 4001 (device busy). */
  busy?: boolean;
  /** A firmware upgrade fails: the phone fetches the image but comes back with its old version. */
  upgradeFails?: boolean;
}

export interface SimLine {
  line: number;
  uri: string;
  registered: boolean;
}

export interface SimCall {
  handle: string;
  type: 'Outgoing' | 'Incoming';
  state: string;
  remote: string;
  line: number;
  startedAt: number;
}

export interface PhoneSpec {
  mac: string;
  ip: string;
  model?: string;
  firmware?: string;
  password?: string;
  apiEnabled?: boolean;
  /** Endpoints this firmware lacks (answered 404), e.g. '/api/v1/mgmt/updateConfiguration'. */
  missingEndpoints?: readonly string[];
  lines?: SimLine[];
}

export interface PhoneTiming {
  rebootOfflineMs: number;
  /** Dialtone → Setup → Ringback steps, then Connected after answerMs. */
  callStepMs: number;
  answerMs: number;
}

const REBOOT_AFTER_ANSWER_MS = 100;

type ParamType = { kind: 'bool' } | { kind: 'int'; min: number; max: number } | { kind: 'string' };

/** Typed parameters: a set outside the type answers 4000 (invalid input), like the phone. */
const PARAM_TYPES: Readonly<Record<string, ParamType>> = {
  'apps.restapi.enabled': { kind: 'bool' },
  'diags.pcap.enabled': { kind: 'bool' },
  'diags.pcap.background.enabled': { kind: 'bool' },
  'diags.pcap.background.size': { kind: 'int', min: 1, max: 10 },
  'diags.pcap.background.duration': { kind: 'int', min: 1, max: 2880 },
  'diags.pcap.background.filter': { kind: 'string' },
  'up.screenCapture.enabled': { kind: 'bool' },
  'up.screenCapture.value': { kind: 'bool' },
  'voice.volume.persist.handset': { kind: 'bool' },
  'tcpIpApp.sntp.gmtOffset': { kind: 'int', min: -43200, max: 50400 },
  'device.sntp.serverName': { kind: 'string' },
  'apps.telNotification.URL': { kind: 'string' },
  'device.auth.adPassword': { kind: 'string' },
  'reg.1.displayName': { kind: 'string' },
  'reg.1.address': { kind: 'string' },
  'lcl.ml.lang': { kind: 'string' },
  'feature.callRecording.enabled': { kind: 'bool' },
};

export function validParam(name: string, value: string): boolean {
  const t = PARAM_TYPES[name];
  if (!t) return true;
  if (t.kind === 'bool') return value === '0' || value === '1';
  if (t.kind === 'int') return /^-?\d+$/.test(value) && Number(value) >= t.min && Number(value) <= t.max;
  return value.length <= 2048;
}

export function knownParam(name: string): boolean {
  return name in PARAM_TYPES || /^reg\.\d+\./.test(name) || /^(apps|device|voice|tcpIpApp|up|lcl|feature|diags|prov|sec|log)\./.test(name);
}

export class SimPhone {
  readonly mac: string;
  readonly ip: string;
  model: string;
  firmware: string;
  password: string;
  user = 'Polycom';
  apiEnabled: boolean;
  missing: Set<string>;
  lines: SimLine[];
  faults: SimFaults = {};
  bootedAt = Date.now();
  online = true;
  rebootPending = false;
  reboots = 0;
  upgrades = 0;
  failedUpgrades = 0;
  syncs = 0;
  resets: string[] = [];
  /** Every destination dialled, in order (calls end and leave `calls`; this stays). */
  readonly dialled: string[] = [];
  readonly calls: SimCall[] = [];
  /** name → [value, source]; sources as the phone reports them (default, local, web, device). */
  readonly config = new Map<string, [string, string]>();
  readonly sessions = new Set<string>();
  /** Counts of requests by path, for tests that check what reached the phone. */
  readonly hits = new Map<string, number>();
  private timers = new Set<NodeJS.Timeout>();

  constructor(
    spec: PhoneSpec,
    readonly timing: PhoneTiming,
    private readonly hooks: {
      goOffline(p: SimPhone): void;
      goOnline(p: SimPhone): void;
      event(p: SimPhone, xml: string): void;
      /** Provisioning boot while offline: resolves with the firmware version the phone fetched, if any. */
      boot?(p: SimPhone): Promise<string | undefined>;
    },
  ) {
    this.mac = spec.mac.toLowerCase();
    this.ip = spec.ip;
    this.model = spec.model ?? 'VVX 450';
    this.firmware = spec.firmware ?? '6.4.3.1234';
    this.password = spec.password ?? '456';
    this.apiEnabled = spec.apiEnabled ?? true;
    this.missing = new Set(spec.missingEndpoints ?? []);
    this.lines = spec.lines ?? [{ line: 1, uri: `${this.mac}@pbx.example.org`, registered: true }];
    this.config.set('apps.restapi.enabled', ['1', 'device']);
    this.config.set('up.screenCapture.enabled', ['1', 'default']);
    this.config.set('up.screenCapture.value', ['1', 'default']);
    this.config.set('voice.volume.persist.handset', ['0', 'default']);
    this.config.set('device.sntp.serverName', ['pool.ntp.org', 'default']);
    this.config.set('diags.pcap.enabled', ['0', 'default']);
    this.config.set('diags.pcap.background.enabled', ['0', 'default']);
  }

  get inCall(): boolean {
    return this.calls.length > 0;
  }

  uptimeSeconds(): number {
    return Math.floor((Date.now() - this.bootedAt) / 1000);
  }

  /** safeReboot: never cuts a call; deferred until the last call ends. */
  requestReboot(): { deferred: boolean } {
    if (this.inCall) {
      this.rebootPending = true;
      return { deferred: true };
    }
    // After the answer has left: a real phone acknowledges, then goes down.
    this.later(REBOOT_AFTER_ANSWER_MS, () => this.rebootNow());
    return { deferred: false };
  }

  rebootNow(): void {
    this.reboots++;
    this.rebootPending = false;
    this.online = false;
    this.calls.length = 0;
    this.sessions.clear();
    this.hooks.goOffline(this);
    const up = () => {
      this.bootedAt = Date.now();
      this.online = true;
      this.hooks.goOnline(this);
      this.push(
        `<LineRegistrationEvent><PhoneIP>${this.ip}</PhoneIP><MACAddress>${this.mac}</MACAddress><LineNumber>1</LineNumber><TimeStamp>${new Date().toISOString()}</TimeStamp></LineRegistrationEvent>`,
      );
    };
    const boot = this.hooks.boot;
    this.later(this.timing.rebootOfflineMs, () => {
      if (!boot) return up();
      // Booting: fetch the provisioning config and the firmware it names; install a newer image unless the flash fails.
      boot(this)
        .then((version) => {
          if (version === undefined || version === this.firmware) return;
          if (this.faults.upgradeFails) this.failedUpgrades++;
          else {
            this.firmware = version;
            this.upgrades++;
          }
        })
        .catch(() => undefined)
        .finally(up);
    });
  }

  dial(dest: string, line: number): SimCall {
    this.dialled.push(dest);
    const call: SimCall = { handle: randomBytes(4).toString('hex'), type: 'Outgoing', state: 'Dialtone', remote: dest, line, startedAt: Date.now() };
    this.calls.push(call);
    this.callEvent(call);
    const step = (state: string, at: number) =>
      this.later(at, () => {
        if (!this.calls.includes(call)) return;
        call.state = state;
        this.callEvent(call);
      });
    step('Setup', this.timing.callStepMs);
    step('Ringback', this.timing.callStepMs * 2);
    step('Connected', this.timing.callStepMs * 2 + this.timing.answerMs);
    return call;
  }

  ring(from: string, line = 1): SimCall {
    const call: SimCall = { handle: randomBytes(4).toString('hex'), type: 'Incoming', state: 'Offering', remote: from, line, startedAt: Date.now() };
    this.calls.push(call);
    this.push(
      `<IncomingCallEvent><PhoneIP>${this.ip}</PhoneIP><MACAddress>${this.mac}</MACAddress><CallingPartyName>${from}</CallingPartyName><CallingPartyNumber>${from}</CallingPartyNumber><CalledPartyName>${this.mac}</CalledPartyName><CalledPartyNumber>${this.mac}</CalledPartyNumber><TimeStamp>${new Date().toISOString()}</TimeStamp></IncomingCallEvent>`,
    );
    return call;
  }

  endCall(handle?: string): boolean {
    const i = handle ? this.calls.findIndex((c) => c.handle === handle) : this.calls.length - 1;
    const call = this.calls[i];
    if (i < 0 || !call) return false;
    this.calls.splice(i, 1);
    call.state = 'Disconnected';
    this.callEvent(call);
    if (!this.inCall && this.rebootPending) this.later(0, () => this.rebootNow());
    return true;
  }

  setLineRegistered(line: number, registered: boolean): void {
    const l = this.lines.find((x) => x.line === line);
    if (!l) return;
    l.registered = registered;
    const el = registered ? 'LineRegistrationEvent' : 'LineUnregistrationEvent';
    this.push(`<${el}><PhoneIP>${this.ip}</PhoneIP><MACAddress>${this.mac}</MACAddress><LineNumber>${line}</LineNumber><TimeStamp>${new Date().toISOString()}</TimeStamp></${el}>`);
  }

  private callEvent(call: SimCall): void {
    this.push(
      `<CallStateChangeEvent CallReference="${call.handle}" CallState="${call.state}"><PhoneIP>${this.ip}</PhoneIP><MACAddress>${this.mac}</MACAddress><LineNumber>${call.line}</LineNumber><TimeStamp>${new Date().toISOString()}</TimeStamp>` +
        `<CallLineInfo><LineKeyNum>${call.line}</LineKeyNum><LineDirNum>${this.mac}</LineDirNum><LineState>${call.state === 'Disconnected' ? 'Inactive' : 'Active'}</LineState>` +
        `<CallInfo><CallState>${call.state}</CallState><CallType>${call.type}</CallType><UIAppearanceIndex>1*</UIAppearanceIndex><CallReference>${call.handle}</CallReference></CallInfo></CallLineInfo></CallStateChangeEvent>`,
    );
  }

  /** Sends a telephony notification if the phone has a notification URL configured. */
  push(eventXml: string): void {
    if (!this.config.get('apps.telNotification.URL')?.[0]) return;
    this.hooks.event(this, `<PolycomIPPhone>${eventXml}</PolycomIPPhone>`);
  }

  later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

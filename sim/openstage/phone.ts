import { request, get, Agent } from 'node:https';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readDlsMessage, workpointMessage, type SimItem } from './wpi.js';

/**
 * One simulated OpenStage phone: its items, a call that makes writes busy, and the phone's
 * side of a DLS interaction (HTTPS POSTs from the phone's own address, cookie session, the
 * nonce it chose echoed back, fragments when its maxItems is small).
 */

export interface OpenStageFaults {
  /** Every message after the first carries a different nonce. */
  wrongNonce?: boolean;
  /** Answers contact-mes with 204 but never calls back. */
  ignoreContactMe?: boolean;
  /** A software deployment downloads the image, then its flash fails: reported failed, version unchanged. */
  deploymentFails?: boolean;
  /** Calls the DLS back at once but answers the contact-me itself only after this long (a slow web server). */
  contactMeAnswerDelayMs?: number;
  /** Waits this long before posting each answer within an interaction (a slow phone; holds an interaction open). */
  replyDelayMs?: number;
}

/** A deployment the DLS asked for, carried out once the interaction has ended. */
interface Deployment {
  readonly kind: 'software' | 'file';
  readonly url: string;
  readonly fileType: string;
}

const VERSION_LINE = /^#SIM-FIRMWARE version=([^\s]+)\n/;

/** How long one interaction took as the phone saw it (benchmarks read these through the farm). */
export interface InteractionTiming {
  /** Contact-me received → this interaction began (solicited interactions only). */
  startDelayMs: number | undefined;
  /** The first POST until the DLS answered it (TCP and TLS handshakes included). */
  firstAnswerMs: number | undefined;
  /** The first POST until CleanUp (or the error that ended it). */
  totalMs: number;
}

export interface DlsAddress {
  host: string;
  port: number;
}

export interface PhoneOptions {
  ip: string;
  mac: string;
  e164: string;
  /** Fragment size of the phone's replies and the maxItems it declares (-1: everything at once). */
  maxItems: number;
  /** PEM of the CA that signed the relay's certificate; without it the phone trusts any. */
  ca?: string | undefined;
  dlsPath: string;
  /** Extra filler items, so ReadAllItems has something to fragment. */
  extraItems: number;
  /** Host names the phone resolves without DNS (the relay's FQDN → 127.0.0.1). */
  hosts?: Readonly<Record<string, string>> | undefined;
}

export class OpenStagePhone extends EventEmitter {
  readonly ip: string;
  readonly mac: string;
  readonly items = new Map<string, string>();
  faults: OpenStageFaults = {};
  inCall = false;
  contactMes = 0;
  restarts = 0;
  /** Deployments carried out, and the files deployed by type (bytes received). */
  deployments = 0;
  readonly files = new Map<string, number>();
  /** The HTTP status of every download, for tests. */
  readonly downloads: number[] = [];
  /** The URLs deployments named. */
  readonly deployUrls: string[] = [];
  /** Whether a CleanUp asked for a solicited contact once the phone is idle. */
  sendSolicited = false;
  /** Where the last contact-me told the phone to call (unsolicited contacts go there too). */
  dls: DlsAddress | undefined;
  /** Every interaction's reason and the actions the DLS sent, for tests. */
  readonly log: string[] = [];
  private busyInteraction = false;
  /** When the last contact-me arrived (performance.now()), for the benchmark's per-phone timings. */
  private contactMeAt: number | undefined;

  constructor(private readonly o: PhoneOptions) {
    super();
    this.ip = o.ip;
    this.mac = o.mac;
    const it: [string, string][] = [
      ['mac-addr', o.mac],
      ['e164', o.e164],
      ['device-type', 'OpenStage 60'],
      ['software-version', 'V3 R5.14.0'],
      ['display-id', o.e164],
      ['sip-server-address', 'pbx.example.invalid'],
      ['sip-registrar-address', 'pbx.example.invalid'],
      ['configuration-changed-flag', 'false'],
    ];
    for (let i = 0; i < o.extraItems; i++) it.push([`filler-item-${i}`, `value-${i}`]);
    for (const [k, v] of it) this.items.set(k, v);
  }

  /** Whether an interaction with the DLS is open right now. */
  get interacting(): boolean {
    return this.busyInteraction;
  }

  get contactMeUri(): string {
    return `http://${this.ip}/contact_dls.html/ContactDLS`;
  }

  startCall(): void {
    this.inCall = true;
  }

  /** Ends the call; a pending send-solicited flag makes the phone call the DLS now. */
  endCall(): void {
    this.inCall = false;
    if (this.sendSolicited) {
      this.sendSolicited = false;
      void this.interact('solicited');
    }
  }

  /** A contact-me arrived (already answered 204 by the farm). */
  contactMe(addr: DlsAddress): void {
    this.contactMes++;
    this.contactMeAt = performance.now();
    this.dls = addr;
    this.emit('contactMe', addr);
    if (this.faults.ignoreContactMe) return;
    void this.interact('solicited');
  }

  private identity(): SimItem[] {
    return ['contact-me-uri', 'mac-addr', 'e164', 'device-type', 'software-version'].map((n) => ({
      name: n,
      value: n === 'contact-me-uri' ? this.contactMeUri : this.items.get(n),
    }));
  }

  /**
   * Opens one interaction with the DLS and obeys its Actions until CleanUp. Resolves with
   * the actions received (also kept in `log`); never throws (a real phone just gives up).
   */
  async interact(reason: string, extra: SimItem[] = []): Promise<string[]> {
    if (!this.dls) throw new Error(`${this.mac} has no DLS address yet`);
    if (this.busyInteraction) {
      this.emit('interaction', reason, ['skipped: an interaction is already open'], undefined);
      return [];
    }
    this.busyInteraction = true;
    const actions: string[] = [];
    const began = performance.now();
    const sinceContactMe = reason === 'solicited' && this.contactMeAt !== undefined ? began - this.contactMeAt : undefined;
    let firstAnswerMs: number | undefined;
    let restarted = false;
    let deploy: Deployment | undefined;
    const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: this.ip, ...(this.o.ca ? { ca: this.o.ca } : { rejectUnauthorized: false }) } as ConstructorParameters<
      typeof Agent
    >[0]);
    const nonce = randomBytes(16).toString('hex').toUpperCase();
    let cookie: string | undefined;
    let pending: SimItem[] = [];
    let out = workpointMessage({ nonce, maxItems: this.o.maxItems, reason, items: [...this.identity(), ...extra] });
    try {
      for (let step = 0; step < 200; step++) {
        if (step > 0 && this.faults.replyDelayMs) await new Promise((r) => setTimeout(r, this.faults.replyDelayMs));
        const res = await this.post(agent, out, cookie);
        if (step === 0) firstAnswerMs = performance.now() - began;
        if (res.cookie) cookie = res.cookie;
        if (res.status !== 200) {
          actions.push(`http ${res.status}`);
          break;
        }
        const reply = readDlsMessage(res.body);
        actions.push(reply.action);
        if (reply.nonce !== nonce) {
          actions.push('nonce-mismatch');
          break;
        }
        const useNonce = this.faults.wrongNonce ? randomBytes(16).toString('hex').toUpperCase() : nonce;
        const answer = (action: string, status: string, items: SimItem[]): string => {
          const chunk = this.o.maxItems > 0 ? items.slice(0, this.o.maxItems) : items;
          pending = this.o.maxItems > 0 ? items.slice(this.o.maxItems) : [];
          return workpointMessage({
            nonce: useNonce,
            maxItems: this.o.maxItems,
            fragment: pending.length > 0 ? 'next' : 'final',
            reason: 'reply-to',
            action,
            status,
            items: chunk,
          });
        };
        if (reply.action === 'CleanUp') {
          if (reply.items.some((i) => i.name === 'send-solicited' && i.value === 'true')) this.sendSolicited = true;
          break;
        } else if (reply.action === 'ReadItems') {
          out = answer(
            'ReadItems',
            'accepted',
            reply.items.map((i) => (this.items.has(i.name) ? { name: i.name, value: this.items.get(i.name) } : { name: i.name, status: 'failed' as const })),
          );
        } else if (reply.action === 'ReadAllItems') {
          out = answer(
            'ReadAllItems',
            'accepted',
            [...this.items].map(([name, value]) => ({ name, value })),
          );
        } else if (reply.action === 'GetNextFragment') {
          out = answer('GetNextFragment', 'accepted', pending);
        } else if (reply.action === 'WriteItems') {
          if (this.inCall) out = answer('WriteItems', 'busy', []);
          else {
            for (const i of reply.items) this.items.set(i.name, i.value ?? '');
            out = answer(
              'WriteItems',
              'accepted',
              reply.items.map((i) => ({ name: i.name, value: this.items.get(i.name) })),
            );
          }
        } else if (reply.action === 'Restart') {
          out = answer('Restart', 'accepted', []);
          restarted = true;
        } else if (reply.action === 'SoftwareDeployment' || reply.action === 'FileDeployment') {
          const url = reply.items.find((i) => i.name === 'file-https-base-url')?.value;
          if (this.inCall) out = answer(reply.action, 'busy', []);
          else if (!url) out = answer(reply.action, 'failed', []);
          else {
            deploy = { kind: reply.action === 'SoftwareDeployment' ? 'software' : 'file', url, fileType: reply.items.find((i) => i.name === 'file-type')?.value ?? '' };
            out = answer(reply.action, 'accepted', []);
          }
        } else {
          out = answer(reply.action, 'failed', []);
        }
      }
    } catch (err) {
      actions.push(`error ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      agent.destroy();
      this.busyInteraction = false;
      this.log.push(`${reason}: ${actions.join(' ')}`);
      const timing: InteractionTiming = { startDelayMs: sinceContactMe, firstAnswerMs, totalMs: performance.now() - began };
      this.emit('interaction', reason, actions, timing);
    }
    // A deployment starts once the DLS ends the interaction, like a restart.
    if (deploy) setImmediate(() => void this.deploy(deploy));
    // A restart takes effect once the DLS ends the interaction; the phone then reports start-up.
    if (restarted) {
      this.restarts++;
      this.emit('restart');
      setImmediate(() => void this.interact('start-up'));
    }
    return actions;
  }

  /** Downloads the file, reports the deployment status; software is installed and the phone restarts. */
  private async deploy(d: Deployment): Promise<void> {
    this.deployments++;
    this.deployUrls.push(d.url);
    const got = await this.download(d.url).catch((err: Error) => ({ status: 0, bytes: 0, head: '', error: err.message }));
    this.downloads.push(got.status);
    const version = d.kind === 'software' ? VERSION_LINE.exec(got.head)?.[1] : undefined;
    const ok = got.status === 200 && (d.kind === 'file' || (version !== undefined && !this.faults.deploymentFails));
    if (ok && d.kind === 'file') this.files.set(d.fileType, got.bytes);
    const name = new URL(d.url).pathname.split('/').pop() ?? '';
    await this.interact('status', [
      { name: 'file-deployment-status', index: 1, value: ok ? 'ok' : 'failed' },
      { name: 'file-deployment-name', index: 1, value: name },
      { name: 'file-deployment-type', index: 1, value: d.kind === 'software' ? 'APP' : d.fileType },
    ]);
    if (ok && version !== undefined) {
      this.items.set('software-version', version);
      this.restarts++;
      this.emit('restart');
      await this.interact('start-up');
    }
    this.emit('deployed', ok);
  }

  /** GET over HTTPS from the phone's own address; keeps the first line (the image's version header) and counts bytes. */
  private download(url: string): Promise<{ status: number; bytes: number; head: string }> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const req = get(
        {
          host: this.o.hosts?.[u.hostname] ?? u.hostname,
          servername: u.hostname,
          port: u.port || 443,
          path: u.pathname + u.search,
          localAddress: this.ip,
          timeout: 30_000,
          ...(this.o.ca ? { ca: this.o.ca } : { rejectUnauthorized: false }),
        },
        (res) => {
          let bytes = 0;
          let head = '';
          res.on('data', (c: Buffer) => {
            if (head.length < 128) head += c.subarray(0, 128).toString('latin1');
            bytes += c.length;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, head }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  }

  private post(agent: Agent, body: string, cookie: string | undefined): Promise<{ status: number; body: string; cookie: string | undefined }> {
    const dls = this.dls!;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: dls.host,
          port: dls.port,
          path: this.o.dlsPath,
          method: 'POST',
          agent,
          timeout: 10_000,
          headers: { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(body), ...(cookie ? { cookie } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), cookie: res.headers['set-cookie']?.[0]?.split(';')[0] }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }
}

import { request, Agent } from 'node:https';
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
}

export class OpenStagePhone extends EventEmitter {
  readonly ip: string;
  readonly mac: string;
  readonly items = new Map<string, string>();
  faults: OpenStageFaults = {};
  inCall = false;
  contactMes = 0;
  restarts = 0;
  /** Whether a CleanUp asked for a solicited contact once the phone is idle. */
  sendSolicited = false;
  /** Where the last contact-me told the phone to call (unsolicited contacts go there too). */
  dls: DlsAddress | undefined;
  /** Every interaction's reason and the actions the DLS sent, for tests. */
  readonly log: string[] = [];
  private busyInteraction = false;

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
    if (this.busyInteraction) return [];
    this.busyInteraction = true;
    const actions: string[] = [];
    let restarted = false;
    const agent = new Agent({ keepAlive: true, maxSockets: 1, localAddress: this.ip, ...(this.o.ca ? { ca: this.o.ca } : { rejectUnauthorized: false }) } as ConstructorParameters<
      typeof Agent
    >[0]);
    const nonce = randomBytes(16).toString('hex').toUpperCase();
    let cookie: string | undefined;
    let pending: SimItem[] = [];
    let out = workpointMessage({ nonce, maxItems: this.o.maxItems, reason, items: [...this.identity(), ...extra] });
    try {
      for (let step = 0; step < 200; step++) {
        const res = await this.post(agent, out, cookie);
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
      this.emit('interaction', reason, actions);
    }
    // A restart takes effect once the DLS ends the interaction; the phone then reports start-up.
    if (restarted) {
      this.restarts++;
      this.emit('restart');
      setImmediate(() => void this.interact('start-up'));
    }
    return actions;
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

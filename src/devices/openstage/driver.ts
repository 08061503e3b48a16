import { timeouts } from '../../core/timeouts.js';
import type { Logger } from '../../log.js';
import type { ConfigSource, DeviceStatus, DeviceTarget, Driver, ParamsRead } from '../driver.js';
import { DeviceError, DlsError } from '../errors.js';
import type { PhoneEventSink } from '../vendor.js';
import { CONTACT_ME_INTERVAL_MS, sendContactMe } from './contact-me.js';
import type { DlsServer } from './dls-server.js';
import type { Interaction, Interactions } from './interactions.js';
import { itemValue, type DlsAction, type DlsItem, type OutItem, type WorkpointMessage } from './messages.js';

/**
 * Unify OpenStage phones through the provisioning-service interface: the relay sends a
 * contact-me, the phone calls the DLS port back and each command is a short interaction
 * (Action → reply-to …, CleanUp). Writes refused `busy` during a call wait for the phone's
 * solicited contact once it is idle, bounded by the task's expiry.
 */

/** Contact-me port of OpenStage phones (PROTOCOL §3). */
export const OPENSTAGE_PORT = 8085;

/** How long a write waits for a phone in a call when the task has no expiry. */
export const DEFAULT_BUSY_WAIT_MS = timeouts.openstageBusyWait.ms;

/**
 * The item rewritten with its own value to learn whether the phone is in a call (the interface
 * reports no call state, but a write is refused while in one). e164 is one of the three items
 * every phone must send, so it always exists. (I): that a same-value write has no side effect.
 */
export const PROBE_ITEM = 'e164';

/** What `status` reads. (I): the registration and call-state item names are not in the guide. */
export const STATUS_ITEMS = ['mac-addr', 'device-type', 'software-version', 'e164'] as const;

export interface OpenStageDriverOptions {
  readonly interactions: Interactions;
  readonly server: DlsServer | undefined;
  readonly requestTimeoutMs: number;
  readonly sink: PhoneEventSink;
  readonly log: Logger;
  readonly now: () => number;
}

/** The interaction a command is in; replaced when a busy phone calls back. */
interface Session {
  ix: Interaction;
}

const itemKey = (i: DlsItem): string => (i.index !== undefined ? `${i.name}[${i.index}]` : i.name);

export class OpenStageDriver implements Driver {
  private readonly lastContactMe = new Map<string, number>();
  private readonly active = new Set<string>();

  constructor(private readonly o: OpenStageDriverOptions) {}

  /** Waiting for a call-back after a contact-me: a phone answers in seconds, a busy one may take longer. */
  private get callbackWaitMs(): number {
    return (this.o.requestTimeoutMs * timeouts.openstageCallback.ms) / timeouts.deviceRequest.ms;
  }

  async readStatus(t: DeviceTarget): Promise<DeviceStatus> {
    return this.withInteraction(t, async (s) => {
      const r = await this.ask(
        s,
        'ReadItems',
        STATUS_ITEMS.map((name) => ({ name })),
      );
      const firmware = itemValue(r.items, 'software-version');
      return { online: true, ...(firmware ? { firmware } : {}) };
    });
  }

  async getParams(t: DeviceTarget, names: readonly string[]): Promise<ParamsRead> {
    return this.withInteraction(t, async (s) => {
      const r = await this.ask(
        s,
        'ReadItems',
        names.map((name) => ({ name })),
      );
      const values: ParamsRead['values'] = {};
      const invalid: string[] = [];
      for (const it of r.items) {
        if (it.status === 'failed') invalid.push(it.name);
        else values[itemKey(it)] = { value: it.value, source: 'phone' };
      }
      for (const n of names) if (!(n in values) && !invalid.includes(n)) invalid.push(n);
      return { values, invalid };
    });
  }

  async setParams(t: DeviceTarget, values: Readonly<Record<string, string>>): Promise<{ chunks: number; waitedForIdle?: boolean }> {
    const items = Object.entries(values).map(([name, value]) => ({ name, value }));
    return this.withInteraction(t, async (s) => {
      const { chunks, waited } = await this.write(t, s, items);
      return { chunks, waitedForIdle: waited };
    });
  }

  async getConfig(t: DeviceTarget, _source: ConfigSource): Promise<unknown> {
    // An OpenStage phone has one set of items; every source reads all of them.
    return this.withInteraction(t, async (s) => {
      const r = await this.ask(s, 'ReadAllItems');
      return Object.fromEntries(r.items.filter((i) => i.status !== 'failed').map((i) => [itemKey(i), i.value]));
    });
  }

  /** Never restarts a phone in a call: a same-value write answered busy means wait for the solicited contact. */
  async reboot(t: DeviceTarget): Promise<{ deferred: boolean }> {
    return this.withInteraction(t, async (s) => {
      const cur = await this.ask(s, 'ReadItems', [{ name: PROBE_ITEM }]);
      const value = itemValue(cur.items, PROBE_ITEM);
      if (value === undefined)
        throw new DeviceError('PHONE_ERROR', `the phone at ${t.ip} did not report ${PROBE_ITEM}, so the relay cannot tell whether it is in a call; not restarted`, {
          reached: true,
        });
      const { waited } = await this.write(t, s, [{ name: PROBE_ITEM, value }]);
      let r: WorkpointMessage | undefined;
      try {
        r = await this.ask(s, 'Restart');
      } catch (err) {
        // (I) A phone may restart without answering; a Restart that was delivered counts.
        if (!(err instanceof DeviceError && (err.code === 'TIMEOUT' || err.code === 'CONNECTION_LOST'))) throw err;
      }
      if (r?.status === 'failed') throw new DeviceError('PHONE_ERROR', `the phone at ${t.ip} refused Restart`, { reached: true });
      return { deferred: waited };
    });
  }

  /** A solicited ReadAllItems: what the relay knows of the phone is refreshed from it. */
  async checkSync(t: DeviceTarget): Promise<void> {
    await this.withInteraction(t, async (s) => {
      const r = await this.ask(s, 'ReadAllItems');
      const firmware = itemValue(r.items, 'software-version');
      this.o.sink.event({
        ip: t.ip,
        mac: t.mac,
        event: { type: 'dlsInventory', items: r.items.length },
        status: (prev) => ({ ...prev, online: true, ...(firmware ? { firmware } : {}) }),
      });
    });
  }

  async close(): Promise<void> {
    this.o.interactions.close();
    this.o.server?.close();
  }

  // --- interactions ---

  private async withInteraction<R>(t: DeviceTarget, fn: (s: Session) => Promise<R>): Promise<R> {
    const ix = await this.open(t);
    const s: Session = { ix };
    try {
      return await fn(s);
    } catch (err) {
      if (err instanceof DlsError) throw new DeviceError('PHONE_ERROR', `cannot send this to an OpenStage phone: ${err.message}`, { reached: false, cause: err });
      throw err;
    } finally {
      s.ix.end();
      this.active.delete(t.ip);
    }
  }

  /** Sends a contact-me (at most one per phone per minute) and waits for the phone's interaction. */
  private async open(t: DeviceTarget): Promise<Interaction> {
    const dls = this.o.server?.address();
    if (!dls) throw new DeviceError('CONNECT_FAILED', 'the OpenStage DLS port is not listening, so the phone has nowhere to call', { reached: false });
    if (this.active.has(t.ip)) throw new DeviceError('BUSY', `an interaction with the phone at ${t.ip} is already open`, { reached: false, retryAfterMs: 1_000 });
    const now = this.o.now();
    const last = this.lastContactMe.get(t.ip);
    if (last !== undefined && now - last < CONTACT_ME_INTERVAL_MS) {
      const waitMs = last + CONTACT_ME_INTERVAL_MS - now;
      const why = `the phone at ${t.ip} was sent a contact-me ${Math.round((now - last) / 1000)} s ago; OpenStage phones get at most one per minute`;
      if (t.expiresAt !== undefined && now + waitMs > t.expiresAt)
        throw new DeviceError('RATE_LIMITED', `${why}, and the task expires before the next is allowed`, { reached: false });
      throw new DeviceError('BUSY', why, { reached: false, retryAfterMs: waitMs });
    }
    this.active.add(t.ip);
    try {
      const waiting = this.o.interactions.expect(t.ip, t.mac, this.callbackWaitMs);
      try {
        this.remember(t.ip, now);
        await sendContactMe({
          ip: t.ip,
          port: t.port ?? OPENSTAGE_PORT,
          dls: { host: dls.address, port: dls.port },
          timeoutMs: Math.min(timeouts.deviceConnect.ms, this.o.requestTimeoutMs),
        });
      } catch (err) {
        waiting.cancel(err instanceof Error ? err : new Error(String(err)));
        await waiting.promise.catch(() => undefined);
        // A contact-me that never reached the phone does not count against its minute.
        if (err instanceof DeviceError && !err.reached) this.lastContactMe.delete(t.ip);
        throw err;
      }
      return await waiting.promise;
    } catch (err) {
      this.active.delete(t.ip);
      throw err;
    }
  }

  private remember(ip: string, now: number): void {
    // Bounded: entries older than the interval no longer limit anything.
    if (this.lastContactMe.size > 10_000) for (const [k, at] of this.lastContactMe) if (now - at >= CONTACT_ME_INTERVAL_MS) this.lastContactMe.delete(k);
    this.lastContactMe.set(ip, now);
  }

  /** Asks in chunks of the phone's maxItems and joins the answers; a failed reply is an error. */
  private async ask(s: Session, action: DlsAction, items?: readonly OutItem[]): Promise<WorkpointMessage> {
    const max = s.ix.first.maxItems;
    const chunks = items && max > 0 && items.length > max ? Array.from({ length: Math.ceil(items.length / max) }, (_, i) => items.slice(i * max, (i + 1) * max)) : [items];
    let last: WorkpointMessage | undefined;
    const all: DlsItem[] = [];
    for (const chunk of chunks) {
      last = await s.ix.ask(action, chunk);
      if (last.status === 'failed' && action !== 'ReadItems')
        throw new DeviceError('PHONE_ERROR', `the phone at ${s.ix.ip} refused ${action}${last.items.length ? ` (${last.items.map((i) => i.name).join(', ')})` : ''}`, {
          reached: true,
        });
      if (last.status === 'busy') return last;
      all.push(...last.items);
    }
    return { ...last!, items: all };
  }

  /**
   * WriteItems; refused busy (a call) → CleanUp with send-solicited, wait for the phone's
   * solicited contact (bounded by the task's expiry) and write again.
   */
  private async write(t: DeviceTarget, s: Session, items: readonly OutItem[]): Promise<{ chunks: number; waited: boolean }> {
    let waited = false;
    for (;;) {
      const max = s.ix.first.maxItems;
      const r = await this.ask(s, 'WriteItems', items);
      if (r.status !== 'busy') {
        const failed = r.items.filter((i) => i.status === 'failed').map((i) => i.name);
        if (failed.length > 0) throw new DeviceError('PHONE_ERROR', `the phone at ${t.ip} could not write ${failed.join(', ')}`, { reached: true });
        return { chunks: max > 0 ? Math.ceil(items.length / max) : 1, waited };
      }
      waited = true;
      const deadline = t.expiresAt ?? this.o.now() + DEFAULT_BUSY_WAIT_MS;
      const remaining = deadline - this.o.now();
      s.ix.end([{ name: 'send-solicited', value: 'true' }]);
      if (remaining <= 0) throw new DeviceError('TIMEOUT', `the phone at ${t.ip} is in a call and the task expired before it was idle; nothing was written`, { reached: true });
      this.o.log.info({ ip: t.ip, waitMs: remaining }, 'OpenStage phone busy (in a call): waiting for its solicited contact');
      try {
        s.ix = await this.o.interactions.expect(t.ip, t.mac, remaining).promise;
      } catch (err) {
        if (err instanceof DeviceError && err.code === 'TIMEOUT')
          throw new DeviceError('TIMEOUT', `the phone at ${t.ip} stayed in a call until the task expired; nothing was written`, { reached: true });
        throw err;
      }
    }
  }
}

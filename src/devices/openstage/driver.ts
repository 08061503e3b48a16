import { timeouts } from '../../core/timeouts.js';
import type { Logger } from '../../log.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CachedImage, CommandResult, ConfigSource, DeviceStatus, DeviceTarget, Driver, FileType, FirmwareResult, ParamsRead } from '../driver.js';
import { sameVersion, type FirmwareWait, type GrantDownload } from '../firmware.js';
import { deploymentStatus, fileItems, softwareItems, softwareResult } from './deployment.js';
import { DeviceError, DlsError } from '../errors.js';
import { errorMessage as errMessage } from '../../errors.js';
import type { ContactMeLedger, PhoneEventSink } from '../vendor.js';
import { CONTACT_ME_INTERVAL_MS, contactMeWait, sendContactMe } from './contact-me.js';
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
  /** How long a deploying phone is waited for (devices.upgradeTimeoutSeconds) and how often it is asked (devices.upgradePollMs). */
  readonly firmwareWait: FirmwareWait;
  /** Per-phone download URLs of cached images; without it deployments fail saying so. */
  readonly grantDownload?: GrantDownload | undefined;
  /** When each phone was last sent a contact-me (kept across restarts by the relay's store). */
  readonly contactMes: ContactMeLedger;
  /** At most one contact-me per phone within this. */
  readonly contactMeIntervalMs: number;
}

/** The interaction a command is in; replaced when a busy phone calls back. */
interface Session {
  ix: Interaction;
}

const itemKey = (i: DlsItem): string => (i.index !== undefined ? `${i.name}[${i.index}]` : i.name);

export class OpenStageDriver implements Driver {
  private readonly active = new Set<string>();
  private recordedSincePrune = 0;

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
      const waited = await this.probeIdle(t, s, 'restarted');
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

  /**
   * SoftwareDeployment from the relay's cache: the phone gets a per-phone download URL, then
   * the relay follows the contacts it opens on its own (the deployment status, then start-up
   * after it restarted) until it reports its version or the wait ends. Never while in a call:
   * a deployment restarts the phone, so the same harmless write as for a reboot comes first.
   */
  async updateFirmware(t: DeviceTarget, image: CachedImage, mode: 'trigger' | 'verify'): Promise<FirmwareResult> {
    const wait = this.o.firmwareWait;
    const deadline = this.o.now() + wait.timeoutMs;
    const waitSeconds = Math.round(wait.timeoutMs / 1000);
    if (mode === 'verify') {
      // After a crash mid-deployment the phone may still be flashing: ask until it answers.
      for (;;) {
        try {
          await this.contactMeSlot(t, deadline);
          const v = await this.withInteraction(t, (s) => this.readVersion(s));
          return sameVersion(v, image.version)
            ? { outcome: 'success', toVersion: v, reason: 'verified after a restart of the relay' }
            : { outcome: 'failure', toVersion: v, reason: `after a restart of the relay the phone runs ${v ?? 'an unreported version'}, not ${image.version}` };
        } catch (err) {
          if (this.o.now() + wait.pollMs >= deadline)
            return { outcome: 'failure', reason: `the phone did not answer within ${waitSeconds} s after a restart of the relay (${errMessage(err)})` };
          await sleep(wait.pollMs);
        }
      }
    }
    await this.contactMeSlot(t, deadline);
    const watch = this.o.interactions.watch(t.ip, t.mac);
    let grant: ReturnType<GrantDownload>;
    try {
      const start = await this.withInteraction(t, async (s) => {
        const before = await this.readVersion(s);
        if (before !== undefined && sameVersion(before, image.version)) return { current: true as const, before };
        const waited = await this.probeIdle(t, s, 'sent software');
        grant = this.grant(t, image, deadline);
        const r = await s.ix.ask('SoftwareDeployment', softwareItems(grant.url, image));
        if (r.status !== 'accepted' && r.status !== undefined)
          throw new DeviceError('PHONE_ERROR', `the phone at ${t.ip} answered SoftwareDeployment ${r.status}`, { reached: true });
        return { current: false as const, before: before ?? 'unknown', waited };
      });
      if (start.current) return { outcome: 'success', alreadyCurrent: true, fromVersion: start.before, toVersion: start.before };
      this.o.log.info({ ip: t.ip, imageId: image.imageId, version: image.version }, 'OpenStage software deployment sent; waiting for the phone to come back');
      const g = grant!;
      const result = (toVersion: string | undefined): FirmwareResult =>
        softwareResult({ image, fromVersion: start.before, toVersion, matches: sameVersion(toVersion, image.version), fetched: g.fetched(), waited: start.waited, waitSeconds });
      for (;;) {
        const ix = await watch.next(deadline - this.o.now());
        if (!ix) break;
        try {
          const m = ix.first;
          if (m.reason === 'status') {
            if (deploymentStatus(m.items) === 'failed')
              return {
                ...result(undefined),
                outcome: 'failure',
                reason: `the phone reported that the software deployment failed${g.fetched() ? ' (it fetched the image from the relay)' : ''}`,
              };
            continue;
          }
          const v = itemValue(m.items, 'software-version') ?? (await this.readVersion({ ix }));
          // Back from its restart, or already running the image whatever the contact says.
          if (m.reason === 'start-up' || sameVersion(v, image.version)) return result(v);
        } catch (err) {
          this.o.log.info({ ip: t.ip, err: errMessage(err) }, 'OpenStage contact during a deployment broke off; still waiting');
        } finally {
          ix.end();
        }
      }
      // No start-up seen (it may have gone to another DLS): one last read, if the phone may be contacted now.
      const v = await this.withInteraction(t, (s) => this.readVersion(s)).catch(() => undefined);
      return result(v !== undefined && sameVersion(v, image.version) ? v : v === start.before ? undefined : v);
    } finally {
      watch.close();
      grant?.revoke();
    }
  }

  /** FileDeployment of a cached image (logo, ringtone…): done when the phone reports its deployment status. */
  async deployFile(t: DeviceTarget, image: CachedImage, fileType: FileType): Promise<CommandResult> {
    const wait = this.o.firmwareWait;
    const deadline = this.o.now() + wait.timeoutMs;
    const watch = this.o.interactions.watch(t.ip, t.mac);
    let grant: ReturnType<GrantDownload>;
    try {
      const { waited } = await this.withInteraction(t, async (s) => {
        grant = this.grant(t, image, deadline);
        const url = grant.url;
        const r = await this.whenIdle(t, s, () => s.ix.ask('FileDeployment', fileItems(url, fileType)));
        if (r.reply.status === 'failed') throw new DeviceError('PHONE_ERROR', `the phone at ${t.ip} refused FileDeployment of a ${fileType} file`, { reached: true });
        return r;
      });
      const g = grant!;
      const data = (): Record<string, unknown> => ({ imageId: image.imageId, fileType, fetchedFromCache: g.fetched(), ...(waited ? { waitedForIdle: true } : {}) });
      for (;;) {
        const ix = await watch.next(deadline - this.o.now());
        if (!ix) break;
        const st = ix.first.reason === 'status' ? deploymentStatus(ix.first.items) : undefined;
        ix.end();
        if (st === 'ok')
          return { outcome: 'success', ...(waited ? { reason: 'the phone was in a call: deployed once it was idle again' } : {}), data: { ...data(), status: 'ok' } };
        if (st === 'failed') return { outcome: 'failure', reason: `the phone reported that the ${fileType} file deployment failed`, data: { ...data(), status: 'failed' } };
      }
      return { outcome: 'failure', reason: `the phone did not report the ${fileType} file deployment within ${Math.round(wait.timeoutMs / 1000)} s`, data: data() };
    } finally {
      watch.close();
      grant?.revoke();
    }
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
    const waitMs = contactMeWait(this.o.contactMes.last(t.ip), now, this.o.contactMeIntervalMs);
    if (waitMs > 0) {
      const why = `the phone at ${t.ip} was sent a contact-me ${Math.round((this.o.contactMeIntervalMs - waitMs) / 1000)} s ago; OpenStage phones get at most one ${this.o.contactMeIntervalMs === CONTACT_ME_INTERVAL_MS ? 'per minute' : `every ${Math.round(this.o.contactMeIntervalMs / 1000)} s`}`;
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
        // Sent, but the phone's web server answered slowly or dropped the connection: it may well
        // be calling back already. Waiting for that (bounded as ever) costs nothing; giving up
        // would answer its call-back CleanUp and the retry would wait out the contact-me minute.
        if (err instanceof DeviceError && err.reached && (err.code === 'TIMEOUT' || err.code === 'CONNECTION_LOST')) {
          this.o.log.debug({ ip: t.ip, err: err.message }, 'OpenStage contact-me got no clean answer; waiting for the call-back anyway');
          return await waiting.promise;
        }
        waiting.cancel(err instanceof Error ? err : new Error(String(err)));
        await waiting.promise.catch(() => undefined);
        // A contact-me that never reached the phone does not count against its minute.
        if (err instanceof DeviceError && !err.reached) this.o.contactMes.forget(t.ip, now);
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
    if (++this.recordedSincePrune >= 1_000) {
      this.recordedSincePrune = 0;
      this.o.contactMes.prune(now - this.o.contactMeIntervalMs);
    }
    this.o.contactMes.record(ip, now);
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

  /** The version the phone reports (undefined when it does not say). */
  private async readVersion(s: Session): Promise<string | undefined> {
    const r = await s.ix.ask('ReadItems', [{ name: 'software-version' }]);
    return itemValue(r.items, 'software-version');
  }

  /**
   * Learns whether the phone is in a call before something that restarts it: a write of an
   * item with the value it has is refused busy during a call; then wait for its solicited
   * contact. Returns whether it waited.
   */
  private async probeIdle(t: DeviceTarget, s: Session, what: string): Promise<boolean> {
    const cur = await this.ask(s, 'ReadItems', [{ name: PROBE_ITEM }]);
    const value = itemValue(cur.items, PROBE_ITEM);
    if (value === undefined)
      throw new DeviceError('PHONE_ERROR', `the phone at ${t.ip} did not report ${PROBE_ITEM}, so the relay cannot tell whether it is in a call; not ${what}`, {
        reached: true,
      });
    return (await this.write(t, s, [{ name: PROBE_ITEM, value }])).waited;
  }

  private grant(t: DeviceTarget, image: CachedImage, deadline: number): NonNullable<ReturnType<GrantDownload>> {
    const g = this.o.grantDownload?.(t.ip, image, Math.max(1, deadline - this.o.now()));
    if (!g) throw new DeviceError('CONNECT_FAILED', "the relay's phone port is not listening, so it has no download URL to give the phone", { reached: false });
    return g;
  }

  /** Waits (until `deadline`) for the phone's contact-me minute to pass instead of failing busy. */
  private async contactMeSlot(t: DeviceTarget, deadline: number): Promise<void> {
    const now = this.o.now();
    const waitMs = contactMeWait(this.o.contactMes.last(t.ip), now, this.o.contactMeIntervalMs);
    if (waitMs === 0) return;
    if (now + waitMs > deadline)
      throw new DeviceError('RATE_LIMITED', `the phone at ${t.ip} was sent a contact-me less than a minute ago and the wait ends before the next is allowed`, { reached: false });
    await sleep(waitMs);
  }

  /**
   * Sends something a phone refuses while in a call (`busy`): then CleanUp with send-solicited,
   * wait for its solicited contact (bounded by the task's expiry) and send it again.
   */
  private async whenIdle(t: DeviceTarget, s: Session, send: () => Promise<WorkpointMessage>): Promise<{ reply: WorkpointMessage; waited: boolean }> {
    let waited = false;
    for (;;) {
      const reply = await send();
      if (reply.status !== 'busy') return { reply, waited };
      waited = true;
      await this.awaitSolicited(t, s);
    }
  }

  private async awaitSolicited(t: DeviceTarget, s: Session): Promise<void> {
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
      await this.awaitSolicited(t, s);
    }
  }
}

import { randomBytes } from 'node:crypto';
import type { Logger } from '../../log.js';
import { DeviceError } from '../errors.js';
import type { PhoneEventSink } from '../vendor.js';
import { buildDlsMessage, itemValue, normaliseMac, type DlsAction, type OutItem, type WorkpointMessage } from './messages.js';

/**
 * DLS interactions: the phone posts, the relay answers with the next Action. A driver command
 * waits for the phone it contacted (by source address, else by the MAC it names); each later
 * message of that interaction arrives with the session cookie and the nonce of the first.
 * Contacts nobody waits for (start-up, local changes, a late solicited call) are recorded as
 * phone events and ended at once.
 */

/** One message a phone posted, with the way to answer its HTTP request. */
export interface Inbound {
  readonly msg: WorkpointMessage;
  readonly ip: string;
  respond(status: number, body: string, headers?: Record<string, string>): void;
}

/** Enough for a full ReadAllItems on any phone model; more is a phone gone wrong. */
const MAX_FRAGMENTS = 256;
const MAX_ITEMS = 20_000;

export const SESSION_COOKIE = 'JSESSIONID';

export class Interaction {
  private held: Inbound | undefined;
  private waiter: { resolve: (m: WorkpointMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private closed = false;
  private cookieSent = false;
  readonly nonce: string;

  constructor(
    readonly id: string,
    readonly ip: string,
    readonly first: WorkpointMessage,
    held: Inbound,
    private readonly stepTimeoutMs: number,
    private readonly onClose: (ix: Interaction) => void,
  ) {
    this.nonce = first.nonce;
    this.held = held;
  }

  get open(): boolean {
    return !this.closed;
  }

  /** A later message of this interaction (same cookie). */
  deliver(inb: Inbound): void {
    if (this.closed) {
      inb.respond(200, buildDlsMessage({ nonce: inb.msg.nonce, action: 'CleanUp' }));
      return;
    }
    if (inb.msg.nonce !== this.nonce) {
      inb.respond(403, '');
      this.fail(new DeviceError('DLS_NONCE_MISMATCH', `the phone at ${this.ip} answered with another nonce than its interaction began with; refused`, { reached: true }));
      return;
    }
    const w = this.waiter;
    if (!w) {
      // Nothing was asked: the phone is out of step. End the interaction rather than guess.
      this.held = inb;
      this.end();
      return;
    }
    this.waiter = undefined;
    clearTimeout(w.timer);
    this.held = inb;
    w.resolve(inb.msg);
  }

  /** Ends the interaction with an error for whoever waits on it; the held request gets CleanUp. */
  fail(err: Error): void {
    if (this.closed) return;
    const w = this.waiter;
    this.waiter = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.end();
  }

  /**
   * Sends an Action and returns the phone's reply-to, every fragment of it joined
   * (GetNextFragment until the phone says `final`).
   */
  async ask(action: DlsAction, items?: readonly OutItem[]): Promise<WorkpointMessage> {
    let msg = await this.exchange(action, items);
    if (msg.reason !== 'reply-to')
      throw new DeviceError('BAD_RESPONSE', `the phone at ${this.ip} answered ${action} with a ${msg.reason} contact instead of reply-to`, { reached: true });
    if (msg.action !== undefined && msg.action !== action)
      throw new DeviceError('BAD_RESPONSE', `the phone at ${this.ip} answered ${action} as if it were ${msg.action}`, { reached: true });
    const all = [...msg.items];
    for (let n = 0; msg.fragment === 'next'; n++) {
      if (n >= MAX_FRAGMENTS) throw new DeviceError('BAD_RESPONSE', `the phone at ${this.ip} sent more than ${MAX_FRAGMENTS} fragments`, { reached: true });
      msg = await this.exchange('GetNextFragment');
      all.push(...msg.items);
      if (all.length > MAX_ITEMS) throw new DeviceError('BAD_RESPONSE', `the phone at ${this.ip} sent more than ${MAX_ITEMS} items`, { reached: true });
    }
    return { ...msg, action: msg.action === 'GetNextFragment' ? action : msg.action, items: all };
  }

  /** Answers CleanUp (with items such as send-solicited) and forgets the session. */
  end(items?: readonly OutItem[]): void {
    if (this.closed) return;
    this.closed = true;
    const held = this.held;
    this.held = undefined;
    if (held) this.reply(held, buildDlsMessage({ nonce: this.nonce, action: 'CleanUp', ...(items ? { items } : {}) }));
    this.onClose(this);
  }

  private exchange(action: DlsAction, items?: readonly OutItem[]): Promise<WorkpointMessage> {
    const held = this.held;
    if (this.closed || !held) return Promise.reject(new DeviceError('CONNECTION_LOST', `the interaction with the phone at ${this.ip} has ended`, { reached: true }));
    const body = buildDlsMessage({ nonce: this.nonce, action, ...(items ? { items } : {}) });
    this.held = undefined;
    const p = new Promise<WorkpointMessage>((resolve, reject) => {
      const timer = setTimeout(
        () => this.fail(new DeviceError('TIMEOUT', `the phone at ${this.ip} did not answer ${action} within ${this.stepTimeoutMs} ms`, { reached: true })),
        this.stepTimeoutMs,
      );
      timer.unref();
      this.waiter = { resolve, reject, timer };
    });
    this.reply(held, body);
    return p;
  }

  private reply(inb: Inbound, body: string): void {
    // One cookie per interaction, set on the first answer; the path is where phones post.
    const headers: Record<string, string> = this.cookieSent ? {} : { 'set-cookie': `${SESSION_COOKIE}=${this.id}; Path=/; Secure; HttpOnly` };
    this.cookieSent = true;
    inb.respond(200, body, headers);
  }
}

interface Expected {
  readonly mac: string | undefined;
  resolve(ix: Interaction): void;
}

export interface InteractionsOptions {
  readonly stepTimeoutMs: number;
  readonly sink: PhoneEventSink;
  readonly log: Logger;
  readonly now: () => number;
}

/** Every open interaction and every command waiting for its phone to call. */
export class Interactions {
  private readonly sessions = new Map<string, Interaction>();
  private readonly byIp = new Map<string, Interaction>();
  private readonly expected = new Map<string, Expected>();
  private readonly watchers = new Map<string, Watcher>();
  unsolicited = 0;

  constructor(private readonly o: InteractionsOptions) {}

  /**
   * Waits until the phone at `ip` (or naming `mac`) opens a solicited interaction, at most
   * `timeoutMs`. One waiter per phone: the caller holds the phone's lock.
   */
  expect(ip: string, mac: string | undefined, timeoutMs: number): { promise: Promise<Interaction>; cancel(err: Error): void } {
    let settle!: { resolve: (ix: Interaction) => void; reject: (e: Error) => void };
    const promise = new Promise<Interaction>((resolve, reject) => (settle = { resolve, reject }));
    const timer = setTimeout(
      () => cancel(new DeviceError('TIMEOUT', `the phone at ${ip} did not call the DLS back within ${Math.round(timeoutMs / 1000)} s`, { reached: true })),
      timeoutMs,
    );
    timer.unref();
    const entry: Expected = {
      mac: normaliseMac(mac),
      resolve: (ix) => {
        clearTimeout(timer);
        settle.resolve(ix);
      },
    };
    const cancel = (err: Error): void => {
      clearTimeout(timer);
      if (this.expected.get(ip) === entry) this.expected.delete(ip);
      settle.reject(err);
    };
    this.expected.set(ip, entry);
    return { promise, cancel };
  }

  /** A message arrived on the DLS port; `cookie` is the session id the phone sent, if any. */
  handle(inb: Inbound, cookie: string | undefined): void {
    const session = cookie !== undefined ? this.sessions.get(cookie) : undefined;
    if (session) {
      if (session.ip !== inb.ip) {
        inb.respond(403, '');
        this.o.log.warn({ ip: inb.ip, code: 'DLS_SESSION_FOREIGN' }, 'DLS session cookie presented from another address; refused');
        return;
      }
      if (inb.msg.nonce !== session.nonce)
        this.o.log.warn(
          { ip: inb.ip, code: 'DLS_NONCE_MISMATCH' },
          'OpenStage phone answered with another nonce than its interaction began with; refused and the interaction ended',
        );
      session.deliver(inb);
      return;
    }
    const mac = normaliseMac(itemValue(inb.msg.items, 'mac-addr'));
    let key: string | undefined = this.expected.has(inb.ip) ? inb.ip : undefined;
    if (key === undefined && mac !== undefined) for (const [k, e] of this.expected) if (e.mac === mac) key = k;
    const waiting = key !== undefined ? this.expected.get(key) : undefined;
    if (waiting && key !== undefined && inb.msg.reason === 'solicited') {
      this.expected.delete(key);
      waiting.resolve(this.begin(inb));
      return;
    }
    this.recordUnsolicited(inb, mac);
    const watcher = this.watchers.get(inb.ip) ?? (mac !== undefined ? [...this.watchers.values()].find((w) => w.mac === mac) : undefined);
    if (watcher && inb.msg.reason !== 'solicited') {
      // A driver follows this phone (a deployment): it gets the contact as an interaction of its own.
      watcher.push(this.begin(inb));
      return;
    }
    this.o.log.info({ ip: inb.ip, mac, reason: inb.msg.reason }, 'OpenStage phone contacted the DLS on its own; recorded and ended');
    inb.respond(200, buildDlsMessage({ nonce: inb.msg.nonce, action: 'CleanUp' }));
  }

  /**
   * Follows the contacts the phone at `ip` (or naming `mac`) opens on its own: start-up,
   * deployment status… Each is still recorded as a phone event, and handed to the watcher
   * as an interaction it must end. One watcher per phone: the caller holds the phone's lock.
   */
  watch(ip: string, mac: string | undefined): ContactWatch {
    const w = new Watcher(normaliseMac(mac));
    this.watchers.set(ip, w);
    return {
      next: (timeoutMs) => w.next(timeoutMs),
      close: () => {
        if (this.watchers.get(ip) === w) this.watchers.delete(ip);
        w.close();
      },
    };
  }

  private begin(inb: Inbound): Interaction {
    // A phone that starts over abandons its previous interaction.
    this.byIp.get(inb.ip)?.fail(new DeviceError('CONNECTION_LOST', `the phone at ${inb.ip} began a new interaction`, { reached: true }));
    const ix = new Interaction(randomBytes(16).toString('hex'), inb.ip, inb.msg, inb, this.o.stepTimeoutMs, (x) => this.forget(x));
    this.sessions.set(ix.id, ix);
    this.byIp.set(inb.ip, ix);
    return ix;
  }

  private recordUnsolicited(inb: Inbound, mac: string | undefined): void {
    this.unsolicited++;
    const m = inb.msg;
    const items: Record<string, string> = {};
    for (const it of m.items) if (it.status !== 'failed') items[it.index !== undefined ? `${it.name}[${it.index}]` : it.name] = it.value;
    const firmware = itemValue(m.items, 'software-version');
    const at = new Date(this.o.now()).toISOString();
    this.o.sink.event({
      ip: inb.ip,
      mac: mac?.replace(/:/g, ''),
      event: { type: 'dlsContact', reason: m.reason, ...(m.action ? { action: m.action, status: m.status } : {}), items },
      status: (prev) => ({ ...prev, online: true, ...(firmware ? { firmware } : {}), ...(m.reason === 'start-up' ? { lastRebootAt: at } : {}) }),
    });
  }

  private forget(ix: Interaction): void {
    this.sessions.delete(ix.id);
    if (this.byIp.get(ix.ip) === ix) this.byIp.delete(ix.ip);
  }

  /** An unreadable message on a session: the command waiting on it fails with the reason. */
  failSession(cookie: string | undefined, err: Error): void {
    if (cookie !== undefined) this.sessions.get(cookie)?.fail(err);
  }

  close(): void {
    for (const ix of [...this.sessions.values()]) ix.fail(new DeviceError('CONNECTION_LOST', 'the relay is stopping', { reached: true }));
    this.expected.clear();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}

/** The contacts a phone opened on its own, as a driver following it sees them. */
export interface ContactWatch {
  /** The next contact (an interaction the caller must end), or undefined when none came within `timeoutMs`. */
  next(timeoutMs: number): Promise<Interaction | undefined>;
  close(): void;
}

/** Bounded: a phone that floods the DLS with contacts while watched has the oldest ended. */
const MAX_QUEUED_CONTACTS = 8;

class Watcher {
  private readonly queue: Interaction[] = [];
  private waiter: ((ix: Interaction | undefined) => void) | undefined;
  private closed = false;

  constructor(readonly mac: string | undefined) {}

  push(ix: Interaction): void {
    if (this.closed) return ix.end();
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      return w(ix);
    }
    this.queue.push(ix);
    if (this.queue.length > MAX_QUEUED_CONTACTS) this.queue.shift()?.end();
  }

  next(timeoutMs: number): Promise<Interaction | undefined> {
    const queued = this.queue.shift();
    if (queued || this.closed || timeoutMs <= 0) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
      this.waiter = (ix) => {
        clearTimeout(timer);
        resolve(ix);
      };
    });
  }

  close(): void {
    this.closed = true;
    for (const ix of this.queue.splice(0)) ix.end();
    const w = this.waiter;
    this.waiter = undefined;
    w?.(undefined);
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../log.js';
import type { PhoneRequestContext, PhoneRoute } from '../../core/phone-route.js';
import type { DeviceRepo } from '../../store/devices.js';
import type { Outbox } from '../../core/ports.js';
import { parseXml, XmlError, type XmlElement } from './xml.js';
import type { StatusBook } from './status-book.js';
import type { DeviceSnapshot } from './snapshot.js';

export const TELNOTIFY_PREFIX = '/telnotify';
const MAX_BODY = 64 * 1024;
/** §2.1 call states meaning "no call on this line". */
const IDLE_STATES = new Set(['Free', 'Disconnected']);

/** Flattens an event element: children become fields, nested ones objects; attributes are kept. */
function flatten(el: XmlElement): Record<string, unknown> {
  const out: Record<string, unknown> = { ...el.attrs };
  for (const c of el.children) out[c.name] = c.children.length > 0 || Object.keys(c.attrs).length > 0 ? flatten(c) : c.text;
  return out;
}

/** The normalised event a device.event carries: `type` plus the phone's fields. */
export function normaliseEvent(xml: string): Record<string, unknown> {
  const root = parseXml(xml);
  if (root.name !== 'PolycomIPPhone') throw new XmlError(`root element is <${root.name}>, expected <PolycomIPPhone>`);
  const ev = root.children[0];
  if (!ev || root.children.length !== 1) throw new XmlError(`<PolycomIPPhone> must hold exactly one event, found ${root.children.length}`);
  return { type: ev.name, ...flatten(ev) };
}

/** What an event says about the phone's status, applied to the last known one. */
export function applyEvent(prev: DeviceSnapshot | undefined, ev: Record<string, unknown>): DeviceSnapshot {
  const next: DeviceSnapshot = { ...(prev ?? {}), online: true };
  const type = String(ev.type);
  const line = Number(ev.LineNumber ?? 0);
  switch (type) {
    case 'IncomingCallEvent':
    case 'OutgoingCallEvent':
    case 'OffHookEvent':
      next.callState = 'in_call';
      break;
    case 'OnHookEvent':
      next.callState = 'idle';
      break;
    case 'CallStateChangeEvent': {
      const state = String(ev.CallState ?? '');
      next.callState = IDLE_STATES.has(state) ? 'idle' : 'in_call';
      break;
    }
    case 'LineRegistrationEvent':
    case 'LineUnregistrationEvent': {
      const registered = type === 'LineRegistrationEvent';
      const lines = [...(next.lines ?? [])];
      const i = lines.findIndex((l) => l.line === line);
      if (i >= 0) lines[i] = { ...lines[i]!, registered };
      else if (line > 0) lines.push({ line, uri: '', registered });
      next.lines = lines;
      break;
    }
  }
  return next;
}

/**
 * Telephony notifications the phones POST to the relay's HTTPS port. They carry no
 * credentials (the spec has none), so the phone is identified by its source address, or by
 * the MAC it names when the address is unknown; each becomes a device.event and, when it
 * changes what is known, a device.status at once.
 */
export class NotificationReceiver {
  received = 0;
  rejected = 0;

  constructor(
    private readonly deps: { devices: DeviceRepo; outbox: Outbox; book: StatusBook; log: Logger },
  ) {}

  route(): PhoneRoute {
    return {
      name: 'telephony-notifications',
      matches: (method, path) => method === 'POST' && (path === TELNOTIFY_PREFIX || path.startsWith(`${TELNOTIFY_PREFIX}/`)),
      handle: (req, res, ctx) => this.handle(req, res, ctx),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse, ctx: PhoneRequestContext): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_BODY) {
        this.rejected++;
        this.deps.log.warn({ ip: ctx.clientIp, bytes: size }, 'telephony notification refused: body over 64 KiB');
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('notification too large\n');
        req.destroy();
        return;
      }
      chunks.push(c);
    }
    let event: Record<string, unknown>;
    try {
      event = normaliseEvent(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      this.rejected++;
      const msg = err instanceof Error ? err.message : String(err);
      this.deps.log.warn({ ip: ctx.clientIp, err: msg }, 'telephony notification refused: not a PolycomIPPhone event');
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`not a telephony notification: ${msg}\n`);
      return;
    }
    this.received++;
    const mac = typeof event.MACAddress === 'string' ? event.MACAddress : undefined;
    const device = this.deps.devices.byIp(ctx.clientIp) ?? (mac ? this.deps.devices.byMac(mac) : undefined);
    this.deps.outbox.enqueue('device.event', { ...(device ? { deviceId: device.deviceId } : {}), ip: ctx.clientIp, event });
    if (device) this.deps.book.record(device.deviceId, (prev) => applyEvent(prev, event));
    res.writeHead(204).end();
  }
}

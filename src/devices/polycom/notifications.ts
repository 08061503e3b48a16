import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../log.js';
import type { PhoneRequestContext, PhoneRoute } from '../../core/phone-route.js';
import type { DeviceStatus } from '../driver.js';
import { readBoundedBody } from '../phone-http.js';
import type { PhoneEventSink } from '../vendor.js';
import { parseXml, XmlError, type XmlElement } from '../xml.js';

/** Telephony notifications (device-protocols §2.1): POST of one `<PolycomIPPhone>` event. */
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
export function normaliseEvent(xml: string | Buffer): Record<string, unknown> {
  const root = parseXml(xml, { maxBytes: MAX_BODY });
  if (root.name !== 'PolycomIPPhone') throw new XmlError('XML_MALFORMED', `root element is <${root.name}>, expected <PolycomIPPhone>`);
  const ev = root.children[0];
  if (!ev || root.children.length !== 1) throw new XmlError('XML_MALFORMED', `<PolycomIPPhone> must hold exactly one event, found ${root.children.length}`);
  return { type: ev.name, ...flatten(ev) };
}

/** What an event says about the phone's status, applied to the last known one. */
export function applyEvent(prev: DeviceStatus | undefined, ev: Record<string, unknown>): DeviceStatus {
  const next: DeviceStatus = { ...(prev ?? {}), online: true };
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
 * The route Polycom phones POST their notifications to on the relay's HTTPS port. They carry
 * no credentials (the spec has none), so the sink identifies the phone by its source address,
 * or by the MAC it names when the address is unknown.
 */
export function telephonyNotificationRoute(sink: PhoneEventSink, log: Logger): PhoneRoute {
  const handle = async (req: IncomingMessage, res: ServerResponse, ctx: PhoneRequestContext): Promise<void> => {
    const read = await readBoundedBody(req, MAX_BODY);
    if (!read.ok) {
      sink.refused();
      log.warn({ ip: ctx.clientIp, bytes: read.bytes, code: 'XML_TOO_LARGE' }, 'telephony notification refused: body over 64 KiB');
      res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('notification too large\n');
      req.destroy();
      return;
    }
    let event: Record<string, unknown>;
    try {
      event = normaliseEvent(read.body);
    } catch (err) {
      sink.refused();
      const msg = err instanceof Error ? err.message : String(err);
      const code = err instanceof XmlError ? err.code : undefined;
      log.warn({ ip: ctx.clientIp, err: msg, ...(code ? { code } : {}) }, 'telephony notification refused: not a PolycomIPPhone event');
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`not a telephony notification: ${msg}\n`);
      return;
    }
    const mac = typeof event.MACAddress === 'string' ? event.MACAddress : undefined;
    sink.event({ ip: ctx.clientIp, mac, event, status: (prev) => applyEvent(prev, event) });
    res.writeHead(204).end();
  };
  return {
    name: 'telephony-notifications',
    matches: (method, path) => method === 'POST' && (path === TELNOTIFY_PREFIX || path.startsWith(`${TELNOTIFY_PREFIX}/`)),
    handle,
  };
}

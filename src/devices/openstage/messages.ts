import { DlsError } from '../errors.js';
import { parseXml, type XmlElement } from '../xml.js';

/**
 * The DLS (WPI) message layer of OpenStage phones, without sockets: reading the
 * `WorkpointMessage` a phone posts and writing the `DLSMessage` the relay answers with
 * (device-protocols §4). Pure functions, so every quirk is unit-tested on its own.
 */

export const DLS_NAMESPACE = 'http://www.siemens.com/DLS';

/** Why the phone opened the interaction, or `reply-to` for its answer to an Action. */
export const CONTACT_REASONS = ['start-up', 'local-changes', 'inventory-changes', 'status', 'solicited', 'reply-to'] as const;
export type ContactReason = (typeof CONTACT_REASONS)[number];

export const ACTIONS = ['ReadAllItems', 'ReadItems', 'WriteItems', 'Restart', 'FileDeployment', 'SoftwareDeployment', 'GetNextFragment', 'CleanUp'] as const;
export type DlsAction = (typeof ACTIONS)[number];

export const REPLY_STATUSES = ['accepted', 'failed', 'busy'] as const;
export type ReplyStatus = (typeof REPLY_STATUSES)[number];

export interface DlsItem {
  readonly name: string;
  /** Items that exist several times (e.g. ldap-server-address 1, 2…) carry an index. */
  readonly index?: number | undefined;
  /** `failed` when the phone could not read or write this item. */
  readonly status?: string | undefined;
  readonly value: string;
}

export interface WorkpointMessage {
  readonly nonce: string;
  /** Most items the phone takes in one DLSMessage; -1 for no limit. */
  readonly maxItems: number;
  /** `next` while more fragments of this reply follow, `final` (or absent) on the last. */
  readonly fragment: 'next' | 'final' | undefined;
  readonly reason: ContactReason;
  /** On `reply-to`: the Action answered and how it went. */
  readonly action?: DlsAction | undefined;
  readonly status?: ReplyStatus | undefined;
  readonly items: readonly DlsItem[];
}

/** A WorkpointMessage is a few KiB; 256 KiB leaves room for a large ReadAllItems fragment. */
export const MAX_WORKPOINT_BYTES = 256 * 1024;
/** The relay never needs to send more than a WriteItems of a few hundred values. */
export const MAX_DLS_MESSAGE_BYTES = 64 * 1024;

const NONCE = /^[0-9A-Za-z+/=_-]{1,128}$/;
const ITEM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const bad = (why: string): DlsError => new DlsError('DLS_BAD_MESSAGE', why);
const localName = (name: string): string => name.slice(name.indexOf(':') + 1);
const child = (el: XmlElement, name: string): XmlElement | undefined => el.children.find((c) => localName(c.name) === name);

function oneOf<T extends string>(list: readonly T[], v: string | undefined, what: string): T | undefined {
  if (v === undefined) return undefined;
  if (!(list as readonly string[]).includes(v)) throw bad(`${what} "${v.slice(0, 64)}" is not one of ${list.join(', ')}`);
  return v as T;
}

function readItem(el: XmlElement, n: number): DlsItem {
  if (localName(el.name) !== 'Item') throw bad(`ItemList entry ${n} is <${el.name.slice(0, 64)}>, not <Item>`);
  const name = el.attrs.name;
  if (name === undefined || !ITEM_NAME.test(name)) throw bad(`Item ${n} has ${name === undefined ? 'no name' : `an invalid name "${name.slice(0, 64)}"`}`);
  let index: number | undefined;
  if (el.attrs.index !== undefined) {
    if (!/^\d{1,6}$/.test(el.attrs.index)) throw bad(`Item ${name} has an invalid index "${el.attrs.index.slice(0, 16)}"`);
    index = Number(el.attrs.index);
  }
  return { name, index, status: el.attrs.status, value: el.text };
}

/**
 * Reads one phone → DLS body. Throws an XmlError (XML_*) when it is not safe, well-formed
 * XML and a DlsError when it is XML but not a WorkpointMessage the relay can act on.
 */
export function parseWorkpointMessage(body: string | Buffer): WorkpointMessage {
  const root = parseXml(body, { maxBytes: MAX_WORKPOINT_BYTES, maxDepth: 8 });
  if (localName(root.name) !== 'WorkpointMessage') throw new DlsError('DLS_NOT_WORKPOINT_MESSAGE', `expected <WorkpointMessage>, got <${root.name.slice(0, 64)}>`);
  const msg = child(root, 'Message');
  if (!msg) throw new DlsError('DLS_NOT_WORKPOINT_MESSAGE', 'the WorkpointMessage has no <Message>');
  const nonce = msg.attrs.nonce;
  if (nonce === undefined || !NONCE.test(nonce)) throw bad(nonce === undefined ? 'the Message has no nonce' : 'the Message nonce is not 1–128 letters, digits or +/=_-');
  const rawMax = msg.attrs.maxItems ?? '-1';
  if (!/^-?\d{1,9}$/.test(rawMax)) throw bad(`maxItems "${rawMax.slice(0, 16)}" is not a whole number`);
  const maxItems = Number(rawMax);
  if (maxItems === 0 || maxItems < -1) throw bad(`maxItems ${maxItems} is neither -1 (no limit) nor positive`);
  const fragment = oneOf(['next', 'final'] as const, msg.attrs.fragment, 'fragment');
  const rfc = child(msg, 'ReasonForContact');
  if (!rfc) throw bad('the Message has no <ReasonForContact>');
  const reason = oneOf(CONTACT_REASONS, rfc.text, 'ReasonForContact');
  if (reason === undefined) throw bad('ReasonForContact is empty');
  const action = oneOf(ACTIONS, rfc.attrs.action, 'ReasonForContact action');
  const status = oneOf(REPLY_STATUSES, rfc.attrs.status, 'ReasonForContact status');
  if (reason === 'reply-to' && action === undefined) throw bad('a reply-to names no action');
  const list = child(msg, 'ItemList');
  const items = (list?.children ?? []).map(readItem);
  return { nonce, maxItems, fragment, reason, action, status, items };
}

/**
 * OpenStage phones do not decode `&lt;`, `&gt;` or `&amp;` in item values: they would store
 * the entity literally. Like GS3 (amooma/GS3 prov-settings.php) the relay never sends them:
 * `<` and `>` are dropped and `&` becomes `+`. Quotes and apostrophes are harmless in element
 * text and pass unchanged. Control characters other than tab are dropped (not valid XML 1.0).
 */
export function phoneSafeValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/[<>\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '').replace(/&/g, '+');
}

export interface OutItem {
  readonly name: string;
  readonly index?: number | undefined;
  /** Omitted for a ReadItems request (the phone fills it in). */
  readonly value?: string | undefined;
}

export interface DlsMessageSpec {
  /** The nonce of the phone's message being answered, echoed as the phone expects. */
  readonly nonce: string;
  readonly action: DlsAction;
  readonly items?: readonly OutItem[];
}

/** Builds the DLS → phone body. Throws DlsError when a name is invalid or the body too big. */
export function buildDlsMessage(spec: DlsMessageSpec, maxBytes = MAX_DLS_MESSAGE_BYTES): string {
  if (!NONCE.test(spec.nonce)) throw bad('cannot echo an invalid nonce');
  const items = (spec.items ?? []).map((it) => {
    if (!ITEM_NAME.test(it.name)) throw bad(`cannot send an item named "${it.name.slice(0, 64)}"`);
    if (it.index !== undefined && !(Number.isInteger(it.index) && it.index >= 0)) throw bad(`cannot send item ${it.name} with index ${it.index}`);
    const idx = it.index !== undefined ? ` index="${it.index}"` : '';
    return it.value === undefined ? `<Item name="${it.name}"${idx}/>` : `<Item name="${it.name}"${idx}>${phoneSafeValue(it.value)}</Item>`;
  });
  const list = items.length > 0 ? `<ItemList>${items.join('')}</ItemList>` : '';
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<DLSMessage xmlns="${DLS_NAMESPACE}"><Message nonce="${spec.nonce}"><Action>${spec.action}</Action>${list}</Message></DLSMessage>`;
  const size = Buffer.byteLength(body);
  if (size > maxBytes) throw new DlsError('DLS_REPLY_TOO_LARGE', `the ${spec.action} message is ${size} bytes, over the limit of ${maxBytes}`);
  return body;
}

/** The value of the first item of that name (and index, when given). */
export function itemValue(items: readonly DlsItem[], name: string, index?: number): string | undefined {
  return items.find((i) => i.name === name && (index === undefined || i.index === index) && i.status !== 'failed')?.value;
}

/** Canonical MAC (lower case, colon separated), or undefined when it is not one. */
export function normaliseMac(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const hex = raw.replace(/[:.-]/g, '').toLowerCase();
  return /^[0-9a-f]{12}$/.test(hex) ? hex.match(/../g)!.join(':') : undefined;
}

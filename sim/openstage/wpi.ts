import { XMLParser } from 'fast-xml-parser';

/**
 * The phone's side of the WPI wire format (device-protocols §4), written from the spec for the
 * simulator only: it shares nothing with the relay's reader and writer.
 */

export interface SimItem {
  name: string;
  index?: number | undefined;
  status?: 'failed' | undefined;
  value?: string | undefined;
}

export interface DlsReply {
  nonce: string;
  action: string;
  items: SimItem[];
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  isArray: (name) => name === 'Item',
});

type Raw = Record<string, unknown>;

/** Reads the DLSMessage the server answered with; throws when it is not one. */
export function readDlsMessage(xml: string): DlsReply {
  if (/<!DOCTYPE/i.test(xml)) throw new Error('DOCTYPE in a DLSMessage');
  const doc = parser.parse(xml) as Raw;
  const root = doc.DLSMessage as Raw | undefined;
  const msg = root?.Message as Raw | undefined;
  if (!msg) throw new Error('not a DLSMessage');
  const action = typeof msg.Action === 'string' ? msg.Action.trim() : '';
  const list = ((msg.ItemList as Raw | undefined)?.Item ?? []) as (Raw | string)[];
  const items = list.map((it): SimItem => {
    if (typeof it === 'string') throw new Error('Item without a name');
    const value = typeof it['#text'] === 'string' ? it['#text'] : undefined;
    return { name: String(it['@name']), index: it['@index'] !== undefined ? Number(it['@index']) : undefined, value };
  });
  return { nonce: String(msg['@nonce'] ?? ''), action, items };
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface WorkpointSpec {
  nonce: string;
  maxItems: number;
  fragment?: 'next' | 'final';
  reason: string;
  action?: string;
  status?: string;
  items: SimItem[];
}

export function workpointMessage(m: WorkpointSpec): string {
  const attrs = `${m.action ? ` action="${m.action}"` : ''}${m.status ? ` status="${m.status}"` : ''}`;
  const items = m.items
    .map(
      (i) =>
        `<Item name="${esc(i.name)}"${i.index !== undefined ? ` index="${i.index}"` : ''}${i.status ? ` status="${i.status}"` : ''}${i.value === undefined ? '/>' : `>${esc(i.value)}</Item>`}`,
    )
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<WorkpointMessage xmlns="http://www.siemens.com/DLS" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><Message nonce="${m.nonce}" maxItems="${m.maxItems}"${m.fragment ? ` fragment="${m.fragment}"` : ''}><ReasonForContact${attrs}>${m.reason}</ReasonForContact><ItemList>${items}</ItemList></Message></WorkpointMessage>`;
}

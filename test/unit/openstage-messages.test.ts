import { describe, expect, it } from 'vitest';
import { buildDlsMessage, MAX_WORKPOINT_BYTES, normaliseMac, parseWorkpointMessage, phoneSafeValue } from '../../src/devices/openstage/messages.js';
import { parseXml } from '../../src/devices/xml.js';
import { RelayError } from '../../src/errors.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RelayError);
    return (err as RelayError).code;
  }
  throw new Error('did not throw');
}

const SPEC_EXAMPLE = `<WorkpointMessage xmlns="http://www.siemens.com/DLS" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <Message nonce="71E7F7FF699CE4467956071307E7478F" maxItems="-1">
  <ReasonForContact>solicited</ReasonForContact>
  <ItemList><Item name="device-type">OpenStage 80</Item><Item name="mac-addr">00:01:E3:25:E1:CB</Item>
   <Item name="contact-me-uri">http://127.20.200.9:8085/contact_dls.html/ContactDLS</Item>
   <Item name="e164">5419431261</Item><Item name="configuration-changed-flag">false</Item>
   <Item status="failed" name="gigabit-ethernet"/><Item index="1" name="ldap-server-address">ldap.ex</Item>
 </ItemList></Message></WorkpointMessage>`;

const wpm = (msgAttrs: string, rfc: string, items = ''): string =>
  `<WorkpointMessage xmlns="http://www.siemens.com/DLS"><Message ${msgAttrs}>${rfc}<ItemList>${items}</ItemList></Message></WorkpointMessage>`;

describe('WorkpointMessage parsing', () => {
  it('reads the spec example: nonce, maxItems, reason, items with index and per-item status', () => {
    const m = parseWorkpointMessage(SPEC_EXAMPLE);
    expect(m).toMatchObject({ nonce: '71E7F7FF699CE4467956071307E7478F', maxItems: -1, fragment: undefined, reason: 'solicited', action: undefined });
    expect(m.items).toHaveLength(7);
    expect(m.items[1]).toEqual({ name: 'mac-addr', index: undefined, status: undefined, value: '00:01:E3:25:E1:CB' });
    expect(m.items[5]).toMatchObject({ name: 'gigabit-ethernet', status: 'failed', value: '' });
    expect(m.items[6]).toMatchObject({ name: 'ldap-server-address', index: 1, value: 'ldap.ex' });
  });

  it('reads a busy reply-to with its action, status and fragment', () => {
    const m = parseWorkpointMessage(wpm('nonce="ab12" maxItems="5" fragment="final"', '<ReasonForContact status="busy" action="WriteItems">reply-to</ReasonForContact>'));
    expect(m).toMatchObject({ nonce: 'ab12', maxItems: 5, fragment: 'final', reason: 'reply-to', action: 'WriteItems', status: 'busy', items: [] });
  });

  it('refuses documents that are not WorkpointMessages, with a code saying why', () => {
    expect(codeOf(() => parseWorkpointMessage('<DLSMessage><Message nonce="a"/></DLSMessage>'))).toBe('DLS_NOT_WORKPOINT_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage('<WorkpointMessage/>'))).toBe('DLS_NOT_WORKPOINT_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage('<WorkpointMessage><Message'))).toBe('XML_MALFORMED');
    expect(codeOf(() => parseWorkpointMessage('<!DOCTYPE x [<!ENTITY a "b">]><WorkpointMessage/>'))).toBe('XML_DTD_REFUSED');
    expect(codeOf(() => parseWorkpointMessage(`<WorkpointMessage><Message nonce="a">${'x'.repeat(MAX_WORKPOINT_BYTES)}</Message></WorkpointMessage>`))).toBe('XML_TOO_LARGE');
  });

  it('refuses missing or invalid nonce, maxItems, reason, action, status and item names', () => {
    const rfc = '<ReasonForContact>solicited</ReasonForContact>';
    expect(codeOf(() => parseWorkpointMessage(wpm('maxItems="-1"', rfc)))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a b"', rfc)))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a" maxItems="0"', rfc)))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a" maxItems="many"', rfc)))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a" fragment="more"', rfc)))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a"', '')))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a"', '<ReasonForContact>hello</ReasonForContact>')))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a"', '<ReasonForContact>reply-to</ReasonForContact>')))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a"', '<ReasonForContact action="Format">reply-to</ReasonForContact>')))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a"', '<ReasonForContact action="WriteItems" status="maybe">reply-to</ReasonForContact>')))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a"', rfc, '<Item>x</Item>')))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a"', rfc, '<Item name="a b">x</Item>')))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a"', rfc, '<Item name="a" index="-1">x</Item>')))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => parseWorkpointMessage(wpm('nonce="a"', rfc, '<Other name="a">x</Other>')))).toBe('DLS_BAD_MESSAGE');
  });
});

describe('DLSMessage building', () => {
  it('echoes the nonce, names the action and lists items (read requests without values)', () => {
    const xml = buildDlsMessage({ nonce: 'N1', action: 'ReadItems', items: [{ name: 'e164' }, { name: 'ldap-server-address', index: 2 }] });
    const root = parseXml(xml);
    expect(root.name).toBe('DLSMessage');
    expect(root.attrs.xmlns).toBe('http://www.siemens.com/DLS');
    const msg = root.children[0]!;
    expect(msg.attrs.nonce).toBe('N1');
    expect(msg.children[0]).toMatchObject({ name: 'Action', text: 'ReadItems' });
    expect(msg.children[1]!.children.map((c) => c.attrs)).toEqual([{ name: 'e164' }, { name: 'ldap-server-address', index: '2' }]);
  });

  it('never sends entities the phones cannot read: < and > dropped, & becomes +', () => {
    expect(phoneSafeValue('a<b>&c "d" \'e\'')).toBe('ab+c "d" \'e\'');
    const xml = buildDlsMessage({ nonce: 'N1', action: 'WriteItems', items: [{ name: 'display-id', value: 'Sales & <Support>' }] });
    expect(xml).not.toMatch(/&(lt|gt|amp);/);
    expect(xml).toContain('<Item name="display-id">Sales + Support</Item>');
    expect(parseXml(xml).children[0]!.children[1]!.children[0]!.text).toBe('Sales + Support');
  });

  it('refuses an invalid item name or nonce and a body over its bound', () => {
    expect(codeOf(() => buildDlsMessage({ nonce: 'N1', action: 'WriteItems', items: [{ name: 'x"/><Item name="y', value: '1' }] }))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => buildDlsMessage({ nonce: 'a"b', action: 'CleanUp' }))).toBe('DLS_BAD_MESSAGE');
    expect(codeOf(() => buildDlsMessage({ nonce: 'N1', action: 'WriteItems', items: [{ name: 'x', value: 'v'.repeat(2000) }] }, 1000))).toBe('DLS_REPLY_TOO_LARGE');
  });

  it('normalises MACs as phones and targets write them', () => {
    expect(normaliseMac('00:01:E3:25:E1:CB')).toBe('00:01:e3:25:e1:cb');
    expect(normaliseMac('0001e325e1cb')).toBe('00:01:e3:25:e1:cb');
    expect(normaliseMac('nope')).toBeUndefined();
  });
});

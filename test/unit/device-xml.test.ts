import { describe, expect, it } from 'vitest';
import { parseXml, XmlError } from '../../src/devices/xml.js';
import { applyEvent, normaliseEvent } from '../../src/devices/polycom/notifications.js';
import { snapshotChanged } from '../../src/device-work/monitor/snapshot.js';

describe('telephony notification parsing', () => {
  it('normalises the spec example (device-protocols §2.1)', () => {
    const ev = normaliseEvent(`<?xml version="1.0"?><PolycomIPPhone><IncomingCallEvent><PhoneIP>172.24.132.135</PhoneIP><MACAddress>0004f214b89e</MACAddress>
 <CallingPartyName>20701</CallingPartyName><CallingPartyNumber>20701@172.18.186.94</CallingPartyNumber>
 <CalledPartyName>20300</CalledPartyName><CalledPartyNumber>20300</CalledPartyNumber>
 <TimeStamp>2008-07-11T13:19:53-08:00</TimeStamp></IncomingCallEvent></PolycomIPPhone>`);
    expect(ev).toMatchObject({ type: 'IncomingCallEvent', MACAddress: '0004f214b89e', CallingPartyNumber: '20701@172.18.186.94', TimeStamp: '2008-07-11T13:19:53-08:00' });
  });

  it('keeps attributes and nested call info of a call state change', () => {
    const ev = normaliseEvent(
      '<PolycomIPPhone><CallStateChangeEvent CallReference="41aa9c00" CallState="Dialtone"><LineNumber>1</LineNumber><CallLineInfo><LineKeyNum>1</LineKeyNum><CallInfo><CallState>Dialtone</CallState><CallType>Outgoing</CallType></CallInfo></CallLineInfo></CallStateChangeEvent></PolycomIPPhone>',
    );
    expect(ev).toMatchObject({
      type: 'CallStateChangeEvent',
      CallReference: '41aa9c00',
      CallState: 'Dialtone',
      CallLineInfo: { LineKeyNum: '1', CallInfo: { CallType: 'Outgoing' } },
    });
    expect(applyEvent({ online: true, callState: 'idle' }, ev).callState).toBe('in_call');
    expect(applyEvent({ online: true, callState: 'in_call' }, { type: 'CallStateChangeEvent', CallState: 'Free' }).callState).toBe('idle');
  });

  it('refuses two events and the wrong root with a reason', () => {
    expect(() => normaliseEvent('<PolycomIPPhone><OnHookEvent/><OffHookEvent/></PolycomIPPhone>')).toThrow(/exactly one event/);
    expect(() => normaliseEvent('<Other><OnHookEvent/></Other>')).toThrow(/expected <PolycomIPPhone>/);
  });

  it('updates the registration of the line an event names', () => {
    const prev = { online: true, lines: [{ line: 1, uri: 'u@x', registered: true }] };
    expect(applyEvent(prev, { type: 'LineUnregistrationEvent', LineNumber: '1' }).lines).toEqual([{ line: 1, uri: 'u@x', registered: false }]);
  });
});

/** The code of the XmlError `fn` throws (and that it throws one at all). */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(XmlError);
    return (err as XmlError).code;
  }
  throw new Error('did not throw');
}

describe('XML the relay reads from phones', () => {
  it('keeps order, attributes, text and CDATA; decodes the predefined entities and character references once', () => {
    const root = parseXml('<?xml version="1.0"?><!-- c --><r a="x&amp;y"><b>A &amp; B &#x41;&#66; &lt; &amp;lt;</b><c/><b>2<![CDATA[<raw &amp;>]]></b></r>');
    expect(root.name).toBe('r');
    expect(root.attrs).toEqual({ a: 'x&y' });
    expect(root.children.map((c) => c.name)).toEqual(['b', 'c', 'b']);
    expect(root.children[0]?.text).toBe('A & B AB < &lt;');
    expect(root.children[2]?.text).toBe('2<raw &amp;>');
  });

  it('keeps values as the phone wrote them: a MAC or a leading zero is text, not a number', () => {
    const root = parseXml('<r><mac>0004f214b89e</mac><n>007</n><e>1e5</e></r>');
    expect(root.children.map((c) => c.text)).toEqual(['0004f214b89e', '007', '1e5']);
  });

  it('refuses any DOCTYPE, so no entity is declared, expanded or read from a file', () => {
    expect(codeOf(() => parseXml('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'))).toBe('XML_DTD_REFUSED');
    const laughs = '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;&c;&c;</l>';
    expect(codeOf(() => parseXml(laughs))).toBe('XML_DTD_REFUSED');
    // An undeclared entity is not expanded either: it stays as written.
    expect(parseXml('<a>&x;</a>').text).toBe('&x;');
  });

  it('bounds size and depth', () => {
    expect(codeOf(() => parseXml(`<a>${'x'.repeat(2000)}</a>`, { maxBytes: 1024 }))).toBe('XML_TOO_LARGE');
    expect(codeOf(() => parseXml('<a>'.repeat(40) + '</a>'.repeat(40)))).toBe('XML_TOO_DEEP');
    expect(codeOf(() => parseXml('<a>'.repeat(5000) + '</a>'.repeat(5000), { maxBytes: 1 << 20 }))).toBe('XML_TOO_DEEP');
    expect(parseXml('<a>'.repeat(17) + '</a>'.repeat(17)).name).toBe('a');
  });

  it('names what is malformed: mismatched tags with line and column, junk, two roots, trailing text, nothing', () => {
    expect(() => parseXml('<a>\n<b></a>')).toThrow(/line 2, column \d+: Expected closing tag 'b'/);
    expect(codeOf(() => parseXml('not xml'))).toBe('XML_MALFORMED');
    expect(() => parseXml('<a/><b/>')).toThrow(/content after the root element/);
    expect(() => parseXml('<a/>junk')).toThrow(/content after the root element/);
    expect(codeOf(() => parseXml(''))).toBe('XML_MALFORMED');
  });
});

describe('status change detection', () => {
  const base = {
    online: true,
    uptimeSeconds: 100,
    lastRebootAt: '2026-01-01T00:00:00.000Z',
    lines: [{ line: 1, uri: 'a', registered: true }],
    callState: 'idle' as const,
    firmware: '6.4',
  };
  it('uptime and a second of reboot-time jitter are not news; a reboot, a line or a call is', () => {
    expect(snapshotChanged(base, { ...base, uptimeSeconds: 7300, lastRebootAt: '2026-01-01T00:00:01.000Z' })).toBe(false);
    expect(snapshotChanged(base, { ...base, lastRebootAt: '2026-01-01T02:00:00.000Z' })).toBe(true);
    expect(snapshotChanged(base, { ...base, callState: 'in_call' })).toBe(true);
    expect(snapshotChanged(base, { ...base, lines: [{ line: 1, uri: 'a', registered: false }] })).toBe(true);
    expect(snapshotChanged({ online: false }, { online: false })).toBe(false);
    expect(snapshotChanged(base, { online: false })).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { parseXml, XmlError } from '../../src/device-work/monitor/xml.js';
import { applyEvent, normaliseEvent } from '../../src/device-work/monitor/notifications.js';
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
    const ev = normaliseEvent('<PolycomIPPhone><CallStateChangeEvent CallReference="41aa9c00" CallState="Dialtone"><LineNumber>1</LineNumber><CallLineInfo><LineKeyNum>1</LineKeyNum><CallInfo><CallState>Dialtone</CallState><CallType>Outgoing</CallType></CallInfo></CallLineInfo></CallStateChangeEvent></PolycomIPPhone>');
    expect(ev).toMatchObject({ type: 'CallStateChangeEvent', CallReference: '41aa9c00', CallState: 'Dialtone', CallLineInfo: { LineKeyNum: '1', CallInfo: { CallType: 'Outgoing' } } });
    expect(applyEvent({ online: true, callState: 'idle' }, ev).callState).toBe('in_call');
    expect(applyEvent({ online: true, callState: 'in_call' }, { type: 'CallStateChangeEvent', CallState: 'Free' }).callState).toBe('idle');
  });

  it('refuses DTDs, two events, the wrong root and broken markup with a reason', () => {
    expect(() => parseXml('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>')).toThrow(XmlError);
    expect(() => normaliseEvent('<PolycomIPPhone><OnHookEvent/><OffHookEvent/></PolycomIPPhone>')).toThrow(/exactly one event/);
    expect(() => normaliseEvent('<Other><OnHookEvent/></Other>')).toThrow(/expected <PolycomIPPhone>/);
    expect(() => parseXml('<a><b></a>')).toThrow(/mismatched/);
    expect(() => parseXml('<a>'.repeat(40) + '</a>'.repeat(40))).toThrow(/too deep/);
  });

  it('updates the registration of the line an event names', () => {
    const prev = { online: true, lines: [{ line: 1, uri: 'u@x', registered: true }] };
    expect(applyEvent(prev, { type: 'LineUnregistrationEvent', LineNumber: '1' }).lines).toEqual([{ line: 1, uri: 'u@x', registered: false }]);
  });
});

describe('status change detection', () => {
  const base = { online: true, uptimeSeconds: 100, lastRebootAt: '2026-01-01T00:00:00.000Z', lines: [{ line: 1, uri: 'a', registered: true }], callState: 'idle' as const, firmware: '6.4' };
  it('uptime and a second of reboot-time jitter are not news; a reboot, a line or a call is', () => {
    expect(snapshotChanged(base, { ...base, uptimeSeconds: 7300, lastRebootAt: '2026-01-01T00:00:01.000Z' })).toBe(false);
    expect(snapshotChanged(base, { ...base, lastRebootAt: '2026-01-01T02:00:00.000Z' })).toBe(true);
    expect(snapshotChanged(base, { ...base, callState: 'in_call' })).toBe(true);
    expect(snapshotChanged(base, { ...base, lines: [{ line: 1, uri: 'a', registered: false }] })).toBe(true);
    expect(snapshotChanged({ online: false }, { online: false })).toBe(false);
    expect(snapshotChanged(base, { online: false })).toBe(true);
  });
});

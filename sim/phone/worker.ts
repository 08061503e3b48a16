import { PhoneFarm, type FarmOptions, type FarmPhone } from './farm.js';

/**
 * A phone farm in its own process (for benchmarks: one process holds at most ~15,000
 * listening sockets under a 20,000 descriptor limit, and keeps phone CPU off the relay's
 * and the client's cores). Protocol over IPC: parent sends {start: FarmOptions}; the worker
 * answers {ready, phones: [{ip, port, mac}]}; {count: kind} answers the farm's total of reboots,
 * hits or upgrades; {provisioning} points the phones' boots elsewhere and {setFirmware} puts
 * every phone on a version (both answer {done}); {close} ends it.
 */
type Msg =
  | { start: Omit<FarmOptions, 'onError'> }
  | { count: 'reboots' | 'hits' | 'upgrades' }
  | { provisioning: NonNullable<FarmOptions['provisioning']> }
  | { setFirmware: string }
  | { records: true }
  | { down: { indices: number[]; ms: number } }
  | { close: true };

/** What each phone did that must not happen twice for one command (the soak's duplicate check). */
export interface PhoneRecord {
  ip: string;
  reboots: number;
  resets: number;
  /** Outgoing calls per destination (the soak dials a destination unique to each task). */
  dials: Record<string, number>;
  upgrades: number;
}

function total(phones: readonly FarmPhone[], kind: 'reboots' | 'hits' | 'upgrades'): number {
  if (kind === 'hits') return phones.reduce((a, p) => a + [...p.phone.hits.values()].reduce((x, y) => x + y, 0), 0);
  return phones.reduce((a, p) => a + p.phone[kind], 0);
}

let farm: PhoneFarm | undefined;

process.on('message', (m: Msg) => {
  void (async () => {
    if ('start' in m) {
      farm = await PhoneFarm.start(m.start);
      process.send?.({ ready: true, phones: farm.phones.map((p) => ({ ip: p.phone.ip, port: p.port, mac: p.phone.mac, model: p.phone.model, password: p.phone.password })) });
    } else if ('count' in m) {
      process.send?.({ count: m.count, n: total(farm?.phones ?? [], m.count) });
    } else if ('provisioning' in m) {
      farm?.setProvisioning(m.provisioning);
      process.send?.({ done: 'provisioning' });
    } else if ('setFirmware' in m) {
      for (const p of farm?.phones ?? []) p.phone.firmware = m.setFirmware;
      process.send?.({ done: 'setFirmware' });
    } else if ('records' in m) {
      const records: PhoneRecord[] = (farm?.phones ?? []).map(({ phone }) => {
        const dials: Record<string, number> = {};
        for (const dest of phone.dialled) dials[dest] = (dials[dest] ?? 0) + 1;
        return { ip: phone.ip, reboots: phone.reboots, resets: phone.resets.length, dials, upgrades: phone.upgrades };
      });
      process.send?.({ records });
    } else if ('down' in m) {
      let n = 0;
      for (const i of m.down.indices) if (farm?.takeDown(i, m.down.ms)) n++;
      process.send?.({ down: n });
    } else if ('close' in m) {
      await farm?.close();
      process.exit(0);
    }
  })().catch((err: unknown) => {
    process.send?.({ error: err instanceof Error ? err.message : String(err) });
  });
});
process.on('disconnect', () => process.exit(0));

import { PhoneFarm, type FarmOptions } from './farm.js';

/**
 * A phone farm in its own process (for benchmarks: one process holds at most ~15,000
 * listening sockets under a 20,000 descriptor limit, and keeps phone CPU off the relay's
 * and the client's cores). Protocol over IPC: parent sends {start: FarmOptions}; the worker
 * answers {ready, phones: [{ip, port, mac}]}; {rebootedCount} on request; {close} ends it.
 */
type Msg = { start: Omit<FarmOptions, 'onError'> } | { count: 'reboots' | 'hits' } | { records: true } | { down: { indices: number[]; ms: number } } | { close: true };

/** What each phone did that must not happen twice for one command (the soak's duplicate check). */
export interface PhoneRecord {
  ip: string;
  reboots: number;
  resets: number;
  /** Outgoing calls per destination (the soak dials a destination unique to each task). */
  dials: Record<string, number>;
  upgrades: number;
}

let farm: PhoneFarm | undefined;

process.on('message', (m: Msg) => {
  void (async () => {
    if ('start' in m) {
      farm = await PhoneFarm.start(m.start);
      process.send?.({ ready: true, phones: farm.phones.map((p) => ({ ip: p.phone.ip, port: p.port, mac: p.phone.mac, model: p.phone.model, password: p.phone.password })) });
    } else if ('count' in m) {
      const phones = farm?.phones ?? [];
      const n = m.count === 'reboots' ? phones.reduce((a, p) => a + p.phone.reboots, 0) : phones.reduce((a, p) => a + [...p.phone.hits.values()].reduce((x, y) => x + y, 0), 0);
      process.send?.({ count: m.count, n });
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

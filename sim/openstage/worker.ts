import { OpenStageFarm, type OpenStageFarmOptions } from './farm.js';

/**
 * OpenStage phones in their own process (benchmarks: keeps the phones' CPU and sockets apart
 * from the relay's and the floor's). IPC: {start: OpenStageFarmOptions} → {ready, phones:
 * [{ip, port, mac}]}; {count: 'contactMes'} → {count, n}; {stats} → {stats: InteractionStats}
 * (since the last one); {close} ends it.
 */
type Msg = { start: OpenStageFarmOptions } | { count: 'contactMes' } | { stats: true } | { close: true };

let farm: OpenStageFarm | undefined;

process.on('message', (m: Msg) => {
  void (async () => {
    if ('start' in m) {
      farm = await OpenStageFarm.start(m.start);
      process.send?.({ ready: true, phones: farm.phones.map((p) => ({ ip: p.phone.ip, port: p.port, mac: p.phone.mac })) });
    } else if ('count' in m) {
      process.send?.({ count: m.count, n: farm?.contactMes() ?? 0 });
    } else if ('stats' in m) {
      process.send?.({ stats: farm?.interactionStats() ?? null });
    } else if ('close' in m) {
      await farm?.close();
      process.exit(0);
    }
  })().catch((err: unknown) => {
    process.send?.({ error: err instanceof Error ? err.message : String(err) });
  });
});
process.on('disconnect', () => process.exit(0));

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { startHarness, type Harness } from '../helpers/harness.js';
import { runTask } from '../helpers/devices.js';
import { waitFor } from '../helpers/wait.js';
import { OpenStageFarm } from '../../sim/openstage/farm.js';

/**
 * The OpenStage DLS port has the phone port's protections (proxy.handshakeTimeoutMs,
 * proxy.maxConnections): connections that never start TLS are cut at the deadline, those over
 * the cap are refused at once, both counted in PHONE_CONNECTIONS_CUT lines for port `dls`,
 * and a phone's interaction still goes through afterwards. Loopback only, bounded count.
 */
describe('OpenStage DLS port under idle connections', () => {
  let h: Harness;
  let relayId: string;
  let farm: OpenStageFarm;
  const CAP = 16;
  const IDLE = CAP + 6;

  beforeAll(async () => {
    h = await startHarness({ relayConfig: { proxy: { handshakeTimeoutMs: 1_000, maxConnections: CAP }, devices: { pollIntervalSeconds: 7 * 86_400 } } });
    relayId = await h.connected();
    farm = await OpenStageFarm.start({ count: 1, firstIndex: 8_000 + (process.pid % 400) * 2 });
  });

  afterAll(async () => {
    await farm?.close();
    await h?.close();
  });

  it('cuts idle connections at the handshake deadline, refuses those over the cap, and still serves a phone', async () => {
    const port = h.daemon.addresses.dls!.port;
    let closed = 0;
    const sockets: Socket[] = [];
    for (let i = 0; i < IDLE; i++) {
      const s = connect({ host: '127.0.0.1', port, localAddress: `127.20.205.${i + 1}` });
      s.on('error', () => undefined);
      s.once('close', () => closed++);
      sockets.push(s);
    }
    await waitFor(() => closed === IDLE, {
      timeoutMs: 15_000,
      get message() {
        return `every idle DLS connection closed by the relay (${closed}/${IDLE})`;
      },
    });
    const lines = () => h.logs.withCode('PHONE_CONNECTIONS_CUT').filter((l) => l.port === 'dls');
    const total = (k: string) => lines().reduce((n, l) => n + Number(l[k] ?? 0), 0);
    // Counted, then logged as one line per report interval (10 s).
    await waitFor(() => total('handshakeTimeouts') + total('overCap') === IDLE, { timeoutMs: 20_000, message: 'the cuts reported for the dls port' });
    expect(total('overCap')).toBeGreaterThan(0);
    expect(total('handshakeTimeouts')).toBeGreaterThan(0);
    const r = await runTask(h.sim, relayId, { command: { kind: 'getParams', args: { names: ['e164'] } }, targets: [farm.target(0)] });
    expect(r.get(farm.target(0).deviceId)).toMatchObject({ outcome: 'success', data: { values: { e164: farm.phone(0).items.get('e164') } } });
  });
});

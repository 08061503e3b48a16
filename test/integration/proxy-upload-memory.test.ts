import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createCa } from '../../sim/pki.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { spawnRelay, type RelayProcess } from '../helpers/child.js';
import { tempDir, writeRelayConfig } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { PFX_PASS, basicAuth, phoneClient, relayPki } from '../helpers/phone-client.js';

const MAC = '0004f2c0ffee';
const UPLOAD_BYTES = 200 * 1024 * 1024;
const CHUNK = Buffer.alloc(256 * 1024, 0x61);

/** Peak resident set of a process, from the kernel's own high-water mark. */
function peakRssBytes(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * A phone's upload streams through the relay: the relay process (a real child, so its memory
 * is its own) must not hold the body. A buffered 200 MB upload would lift its peak RSS by at
 * least 200 MB; streaming with backpressure keeps the rise to buffers and V8's young generation.
 */
describe("an upload through the pass-through never sits in the relay's memory", () => {
  const root = createCa('upload memory root');
  let prov: ProvisioningSimulator;
  let sim: DmsSimulator;
  let relay: RelayProcess;
  let httpsPort: number;

  beforeAll(async () => {
    prov = await startProvisioningSimulator({ ca: root, macs: [MAC] });
    sim = await startDmsSimulator({ ca: root, provisioningUrl: prov.url, heartbeatIntervalSeconds: 120 });
    const dir = tempDir('cr-upload-mem-');
    const pki = relayPki(dir, root);
    const configFile = writeRelayConfig(dir, {
      dmsUrl: sim.url,
      caPem: sim.caPem,
      dataDir: join(dir, 'data'),
      extra: { pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS, logLevel: 'info', proxy: { maxUploadBytes: 2 * UPLOAD_BYTES } },
    });
    relay = spawnRelay(configFile);
    const started = await relay.waitForLog((l) => l.msg === 'cloud-relay started', 20_000);
    httpsPort = (started.https as { port: number }).port;
    await waitFor(() => sim.relays()[0]?.relayId, { timeoutMs: 20_000, message: 'relay registered' });
  });

  afterAll(async () => {
    relay?.kill('SIGKILL');
    await relay?.exited;
    await sim?.close();
    await prov?.close();
  });

  it(`PUT of ${UPLOAD_BYTES / 1024 / 1024} MB reaches the provisioning server whole while the relay's peak RSS stays far below it`, async () => {
    const phone = phoneClient(httpsPort, root.certPem);
    try {
      // Warm the path first so start-up allocations are not counted against the upload.
      const warm = await phone.request({ method: 'GET', path: '/000000000000.cfg', headers: { authorization: basicAuth() } });
      await warm.body.text();
      expect(warm.statusCode).toBe(200);
      const before = peakRssBytes(relay.proc.pid!);

      let sent = 0;
      const body = Readable.from(
        (function* () {
          while (sent < UPLOAD_BYTES) {
            sent += CHUNK.length;
            yield CHUNK;
          }
        })(),
      );
      const res = await phone.request({
        method: 'PUT',
        path: `/${MAC}-app.log`,
        headers: { authorization: basicAuth(), 'content-type': 'text/plain', 'content-length': String(UPLOAD_BYTES) },
        body,
      });
      await res.body.text();
      expect(res.statusCode).toBe(201);
      expect(prov.seen(`/${MAC}-app.log`).at(-1)?.bytesIn).toBe(UPLOAD_BYTES);

      const rise = peakRssBytes(relay.proc.pid!) - before;
      // Measured here: a rise of 37–44 MB whatever the upload size (120 or 240 MB), i.e. V8's
      // young generation and socket buffers; a buffered body would add at least 200 MB.
      expect(rise).toBeLessThan(96 * 1024 * 1024);
    } finally {
      await phone.close();
    }
  }, 120_000);
});

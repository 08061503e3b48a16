import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import PQueue from 'p-queue';
import { DmsImages } from '../sim/dms/images.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../sim/provisioning/index.js';
import { DEFAULT_ACCOUNT, masterConfig } from '../sim/provisioning/files.js';
import { issueCert, toPfx } from '../sim/pki.js';
import { startPhoneWorkers, startRelayChild, startSim, table, type BenchTarget, type PhoneProvisioning } from './device-bench.js';

/**
 * bench:rollout — a firmware rollout of 10,000 simulated Polycom phones (4 MB image, at most
 * 500 upgrading at once, a 2 s reboot, the window already open) through the relay: seconds from
 * rollout.submit until the DMS simulator has acked the last rollout.result, the bytes the relay
 * fetched upstream (one image), the relay's peak RSS; beside the floor measured in the same run:
 * a bare script doing the same steps per phone (read its version, trigger the safe reboot, the
 * phone boots from a plain provisioning server and fetches the image there, wait until it is
 * back, read its version) under the same concurrency bound. Loopback only (phones on
 * 127.20.x.y), bounded in count and time.
 *
 * One frame is at most 1 MiB (docs/protocol.md §3), and 10,000 targets are ~1.6 MB: the DMS
 * sends the fleet as rollouts of at most 5,000 targets whose maxConcurrent add up to 500.
 */

const PHONES = Number(process.env.BENCH_PHONES ?? 10_000);
const MAX_CONCURRENT = 500;
const IMAGE_BYTES = 4 * 1024 * 1024;
const REBOOT_MS = 2_000;
/** How often an upgrading phone is asked whether it is back: the relay's devices.upgradePollMs and the floor's alike. */
const POLL_MS = 1_000;
const PER_ROLLOUT = 5_000;
const OLD_VERSION = '6.4.3.1234';
const IMAGE = { imageId: 'vvx-6.5.0', version: '6.5.0', path: '/swupdate/vvx/6.5.0/sip.ld', size: IMAGE_BYTES, models: ['VVX 450'] };
const FQDN = 'relay.bench.example';
const TIMEOUT_MS = 10 * 60_000;
const HARD_LIMIT_MS = Number(process.env.BENCH_HARD_LIMIT_MINUTES ?? 25) * 60_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** The provisioning tree both runs boot from: a master config naming the image, and the image. */
function publish(prov: ProvisioningSimulator, dms: DmsImages): void {
  dms.publish((name, body) => prov.setFile(name, body));
  prov.setFile('000000000000.cfg', masterConfig(IMAGE.path.slice(1), []));
}

/** The floor: the same per-phone steps as the relay's Polycom upgrade, from a bare undici client, at most `concurrency` phones at once. */
async function floor(targets: readonly BenchTarget[], concurrency: number): Promise<{ seconds: number; upgraded: number; failures: string[] }> {
  const agent = new Agent({ connections: 1, keepAliveTimeout: 4_000, connect: { rejectUnauthorized: false } });
  const queue = new PQueue({ concurrency });
  let upgraded = 0;
  const failures: string[] = [];
  const t0 = performance.now();
  const info = async (t: BenchTarget, auth: string): Promise<{ firmware: string; uptimeSeconds: number }> => {
    const res = await agent.request({
      origin: `https://${t.ip}:${t.port}`,
      method: 'GET',
      path: '/api/v1/mgmt/device/info',
      headers: { authorization: auth },
      headersTimeout: 10_000,
    });
    const body = (await res.body.json()) as { data?: { FirmwareRelease?: string; UpTimeSinceLastReboot?: string } };
    if (res.statusCode !== 200) throw new Error(`device info: HTTP ${res.statusCode}`);
    const uptime = /(\d+)\s*secs/.exec(body.data?.UpTimeSinceLastReboot ?? '')?.[1];
    return { firmware: body.data?.FirmwareRelease ?? '', uptimeSeconds: Number(uptime ?? NaN) };
  };
  await Promise.all(
    targets.map((t) =>
      queue.add(async () => {
        const auth = 'Basic ' + Buffer.from(`${t.credentials.user}:${t.credentials.password}`).toString('base64');
        try {
          await info(t, auth);
          const requestedAt = performance.now();
          const res = await agent.request({
            origin: `https://${t.ip}:${t.port}`,
            method: 'POST',
            path: '/api/v1/mgmt/safeReboot',
            headers: { authorization: auth, 'content-type': 'application/json' },
            body: '{}',
            headersTimeout: 10_000,
          });
          await res.body.text();
          const deadline = requestedAt + 120_000;
          for (;;) {
            if (performance.now() > deadline) throw new Error('not back within 120 s');
            await new Promise((r) => setTimeout(r, POLL_MS));
            const now = await info(t, auth).catch(() => undefined);
            if (now && now.uptimeSeconds * 1000 < performance.now() - requestedAt) {
              if (now.firmware === IMAGE.version) upgraded++;
              else failures.push(`came back with ${now.firmware}`);
              return;
            }
          }
        } catch (err) {
          if (failures.length < 1_000) failures.push(err instanceof Error ? err.message : String(err));
        }
      }),
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  await agent.close();
  return { seconds, upgraded, failures };
}

async function main(): Promise<void> {
  const guard = setTimeout(() => {
    console.error(`bench:rollout: overall time limit (${HARD_LIMIT_MS / 60_000} min) reached`);
    process.exit(1);
  }, HARD_LIMIT_MS);
  guard.unref();

  const sim = await startSim();
  const dms = new DmsImages({ images: [IMAGE] });
  sim.addRoutes(dms.routes);
  // The tenant's provisioning server behind the relay, and a plain one the floor's phones boot from directly.
  const upstream = await startProvisioningSimulator({ ca: sim.ca });
  sim.provisioningUrl = upstream.url;
  publish(upstream, dms);
  let upstreamFirmwareBytes = 0;
  upstream.events.on('request', (r: { method: string; path: string; status: number }) => {
    if (r.method === 'GET' && r.status === 200 && r.path.startsWith('/swupdate/')) upstreamFirmwareBytes += upstream.files.get(r.path.slice(1))?.length ?? 0;
  });
  const plain = await startProvisioningSimulator({ ca: sim.ca, prefix: '/' });
  publish(plain, dms);
  const plainUrl = new URL(plain.url);
  const direct: PhoneProvisioning = { relayUrl: plainUrl.origin, servername: 'localhost', ca: sim.caPem, account: DEFAULT_ACCOUNT };

  console.log(`bench:rollout: starting ${PHONES} simulated phones on 127.20.x.y …`);
  const phones = await startPhoneWorkers(PHONES, 5_000, { delayMs: 50, rebootOfflineMs: REBOOT_MS, provisioning: direct });
  try {
    console.log(`floor: bare script, ${MAX_CONCURRENT} phones at a time, image from a plain server …`);
    const fl = await floor(phones.targets, MAX_CONCURRENT);
    const floorUpgrades = await phones.count('upgrades');

    // Back to the old firmware, booting through the relay from now on.
    const httpsPort = await freePort();
    await phones.tell({ setFirmware: OLD_VERSION });
    await phones.tell({ provisioning: { relayUrl: `https://127.0.0.1:${httpsPort}`, servername: FQDN, ca: sim.caPem, account: DEFAULT_ACCOUNT } });
    const leaf = issueCert({ cn: FQDN, dnsNames: [FQDN], issuer: sim.ca });
    const relay = await startRelayChild(sim, { tlsPolicy: 'insecure', concurrency: 512, upgradePollMs: POLL_MS, upgradeTimeoutSeconds: 120 }, (dir) => {
      writeFileSync(join(dir, 'relay.pfx'), toPfx(leaf, [sim.ca], 'pfx-pass'));
      return { fqdn: FQDN, pfxFile: join(dir, 'relay.pfx'), pfxPassphrase: 'pfx-pass', httpsListen: `127.0.0.1:${httpsPort}` };
    });
    try {
      const synced = Date.now() + 60_000;
      while (!sim.received(relay.relayId, 'image.status').some((f) => f.frame.imageId === IMAGE.imageId && f.frame.state === 'synced')) {
        if (Date.now() > synced) throw new Error('the relay did not sync the image within 60 s');
        await new Promise((r) => setTimeout(r, 100));
      }

      console.log('relay: rollout.submit → last rollout.result acked …');
      const rollouts = Math.ceil(PHONES / PER_ROLLOUT);
      const ids = new Set<string>();
      const outcomes: Record<string, number> = {};
      const reasons = new Set<string>();
      let results = 0;
      let upgraded = 0;
      const t0 = performance.now();
      const finished = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not finished within ${TIMEOUT_MS} ms (${results}/${PHONES} results)`)), TIMEOUT_MS);
        const on = (e: { relayId: string; frame: Record<string, unknown> }) => {
          if (e.relayId !== relay.relayId || e.frame.type !== 'rollout.result' || !ids.has(String(e.frame.rolloutId))) return;
          results++;
          const o = String(e.frame.outcome);
          outcomes[o] = (outcomes[o] ?? 0) + 1;
          if (o === 'success' && e.frame.toVersion === IMAGE.version && e.frame.fromVersion !== IMAGE.version) upgraded++;
          else if (reasons.size < 3) reasons.add(String(e.frame.reason).replace(/127\.\d+\.\d+\.\d+(:\d+)?/g, '<ip>'));
          if (results === PHONES) {
            clearTimeout(timer);
            sim.events.off('frame', on);
            resolve();
          }
        };
        sim.events.on('frame', on);
      });
      for (let i = 0; i < rollouts; i++) {
        const rolloutId = `bench-${i + 1}`;
        ids.add(rolloutId);
        sim.sendFrame(relay.relayId, {
          type: 'rollout.submit',
          rolloutId,
          name: `VVX ${IMAGE.version} (${i + 1}/${rollouts})`,
          imageId: IMAGE.imageId,
          targets: phones.targets.slice(i * PER_ROLLOUT, (i + 1) * PER_ROLLOUT),
          policy: { schedule: { kind: 'once' }, idleMinutes: 0, maxConcurrent: Math.floor(MAX_CONCURRENT / rollouts) },
        });
      }
      await finished;
      const seconds = (performance.now() - t0) / 1000;
      const peak = relay.peakRssMB();
      const relayUpgrades = (await phones.count('upgrades')) - floorUpgrades;
      const upstreamBytes = dms.fileBytes(IMAGE.imageId) + upstreamFirmwareBytes;
      console.log(
        table([
          ['phones', String(PHONES)],
          ['image bytes', String(IMAGE_BYTES)],
          ['max concurrent', `${MAX_CONCURRENT} (${rollouts} rollouts of ≤${PER_ROLLOUT} targets, ${Math.floor(MAX_CONCURRENT / rollouts)} each)`],
          ['reboot (offline) ms', String(REBOOT_MS)],
          ['poll ms (relay and floor)', String(POLL_MS)],
          ['relay seconds (submit → last result acked)', seconds.toFixed(2)],
          ['relay outcomes', JSON.stringify(outcomes)],
          ...[...reasons].map((r, i): [string, string] => [`other result ${i + 1}`, r]),
          ['phones upgraded (relay run, seen by the phones)', String(relayUpgrades)],
          ['floor seconds (bare script, plain server)', fl.seconds.toFixed(2)],
          ['floor upgraded', String(fl.upgraded)],
          ['floor failures', `${fl.failures.length}${fl.failures.length > 0 ? ` (first: ${fl.failures[0]})` : ''}`],
          ['relay / floor', (seconds / fl.seconds).toFixed(2)],
          ['upstream bytes (DMS + provisioning firmware)', String(upstreamBytes)],
          ['relay peak RSS (MB)', String(peak)],
        ]),
      );
      console.log(
        JSON.stringify({
          bench: 'rollout',
          phones: PHONES,
          seconds: Number(seconds.toFixed(2)),
          floorSeconds: Number(fl.seconds.toFixed(2)),
          upstreamBytes,
          imageBytes: IMAGE_BYTES,
          upgraded,
          peakRssMB: peak,
          goalRatio: Number((seconds / fl.seconds).toFixed(2)),
        }),
      );
    } finally {
      await relay.stop();
    }
  } finally {
    await phones.close();
    await plain.close();
    await upstream.close();
    await sim.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('bench:rollout failed:', err);
    process.exit(1);
  },
);

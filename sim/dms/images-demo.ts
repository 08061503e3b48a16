import { createHash } from 'node:crypto';
import type { KeyedCert } from '../pki.js';
import { DmsImages } from './images.js';
import type { DmsRoute } from './types.js';

/** What the demo hands each part (structurally the demo's DemoContext; kept local to avoid importing the demo's entry point). */
interface DemoCtx {
  readonly sim: {
    readonly ca: KeyedCert;
    addRoutes(routes: readonly DmsRoute[]): void;
    sendFrame(relayId: string, frame: Record<string, unknown>): string;
    received(relayId: string, type?: string): readonly { readonly frame: Record<string, unknown> }[];
  };
  readonly relay: { readonly fqdn: string; readonly httpsPort: number };
  readonly relayId: string;
  say(line: string): void;
  until<T>(pred: () => T | undefined | false, timeoutMs?: number, what?: string): Promise<T>;
}

const MB = 1024 * 1024;

/** An OpenStage software image in the demo's desired set; the OpenStage part deploys it from the cache. */
export const OPENSTAGE_DEMO_IMAGE = {
  imageId: 'openstage-v3r5.16',
  size: 2 * MB,
  path: '/firmware/openstage/opera_bootimage_v3r5.16.0.img',
  version: 'V3R5.16.0',
  models: ['OpenStage 60'],
};
/** The tenant provisioning account the provisioning demo part sets up (Polycom's default). */
const ACCOUNT = `Basic ${Buffer.from('PlcmSpIp:PlcmSpIp').toString('base64')}`;

/**
 * `npm run demo`: firmware. The DMS publishes three images (two Polycom, one OpenStage); images.sync makes the relay fetch
 * and verify them (image.status frames back); then 20 phones download one at once from the
 * relay's cache, and 10 phones ask for an on-demand firmware file that is fetched once.
 * Runs after the provisioning part (it needs the phone-facing certificate and the tenant
 * provisioning server, which checks the phones' credentials).
 */
export const imagesDemoPart = {
  title: 'Firmware: images.sync fills the cache; 20 phones download from it, one upstream fetch',
  async run(ctx: DemoCtx): Promise<void> {
    const port = ctx.relay.httpsPort;
    const dms = new DmsImages({
      images: [
        { imageId: 'vvx-6.4.0', size: 8 * MB, path: '/swupdate/vvx/6.4.0/sip.ld', version: '6.4.0', models: ['VVX 410', 'VVX 500'] },
        { imageId: 'trio-7.2.1', size: 4 * MB, path: '/swupdate/trio/7.2.1/sip.ld', version: '7.2.1', models: ['Trio 8800'] },
        OPENSTAGE_DEMO_IMAGE,
      ],
      bytesPerSecond: 16 * MB,
    });
    ctx.sim.addRoutes(dms.routes);
    const framesBefore = ctx.sim.received(ctx.relayId, 'image.status').length;
    ctx.sim.sendFrame(ctx.relayId, { type: 'images.sync' });
    const sinceSync = () => ctx.sim.received(ctx.relayId, 'image.status').slice(framesBefore);
    await ctx.until(
      () =>
        new Set(
          sinceSync()
            .filter((f) => f.frame.state === 'synced')
            .map((f) => f.frame.imageId),
        ).size >= 3,
      30_000,
      'the three images to be synced',
    );
    const frames = sinceSync();
    const synced = frames.filter((f) => f.frame.state === 'synced').map((f) => `${String(f.frame.imageId)} (${String(f.frame.bytes)} bytes)`);
    ctx.say(
      `images.sync: the relay fetched and verified ${synced.length} images; ${frames.length - synced.length} image.status syncing progress frames, then synced: ${synced.join(', ')}`,
    );
    ctx.say('  (`cloud-relay images` lists them; `--follow` draws progress bars during a sync)');

    const { Agent, request } = await import('undici');
    const client = new Agent({ connect: { ca: ctx.sim.ca.certPem, servername: ctx.relay.fqdn }, connections: 32 });
    try {
      const want = dms.sha256('vvx-6.4.0');
      const fetchesBefore = dms.fileRequests('vvx-6.4.0');
      const t0 = Date.now();
      const bodies = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const res = await request(`https://127.0.0.1:${port}/swupdate/vvx/6.4.0/sip.ld`, { dispatcher: client, headers: { authorization: ACCOUNT } });
          const h = createHash('sha256');
          for await (const c of res.body) h.update(c as Buffer);
          return res.statusCode === 200 && h.digest('hex') === want;
        }),
      );
      ctx.say(
        `  20 phones downloaded the 8 MB image from the cache in ${Date.now() - t0} ms: ${bodies.filter(Boolean).length}/20 verified, DMS file requests during it: ${dms.fileRequests('vvx-6.4.0') - fetchesBefore}`,
      );
      const denied = await request(`https://127.0.0.1:${port}/swupdate/vvx/6.4.0/sip.ld`, { dispatcher: client });
      await denied.body.dump();
      ctx.say(`  a phone without credentials gets ${denied.statusCode} (the provisioning server decides; no byte is served)`);
      const onDemand = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const res = await request(`https://127.0.0.1:${port}/fw/5.9.7/sip.ld`, { dispatcher: client, headers: { authorization: ACCOUNT } });
          const body = Buffer.from(await res.body.arrayBuffer());
          return `${res.statusCode}:${body.length}`;
        }),
      );
      ctx.say(
        `  10 phones asked for /fw/5.9.7/sip.ld (not in the desired set, matches a firmware pattern): ${[...new Set(onDemand)].join(', ')}, one single-flight fetch from the provisioning server, now cached`,
      );
    } finally {
      await client.close();
    }
  },
};

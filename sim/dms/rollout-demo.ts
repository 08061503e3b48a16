import type { KeyedCert } from '../pki.js';
import { PhoneFarm } from '../phone/farm.js';
import { DEFAULT_ACCOUNT, masterConfig } from '../provisioning/files.js';

/** What the demo hands each part (structurally the demo's DemoContext; kept local to avoid importing the demo's entry point). */
interface DemoCtx {
  readonly sim: {
    readonly ca: KeyedCert;
    sendFrame(relayId: string, frame: Record<string, unknown>): string;
    answer(relayId: string, frameId: string): string | undefined;
    received(relayId: string, type?: string): readonly { readonly frame: Record<string, unknown> }[];
  };
  readonly relay: { readonly fqdn: string; readonly httpsPort: number; readonly adminUrl: string };
  readonly relayId: string;
  /** The tenant provisioning server the provisioning part set up (phones boot from it through the relay). */
  readonly provisioning?: { setFile(name: string, body: string | Buffer): void } | undefined;
  say(line: string): void;
  until<T>(pred: () => T | undefined | false, timeoutMs?: number, what?: string): Promise<T>;
}

const PHONES = 12;
const MAX_CONCURRENT = 3;
/** The window opens this long after the rollout is submitted: time to start `cloud-relay rollouts --follow`. */
const OPENS_AFTER_MS = 8_000;
const ROLLOUT_ID = 'demo-rollout-vvx-6.4.0';
/** The image the firmware part put in the desired set (synced in the relay's cache by now). */
const IMAGE = { imageId: 'vvx-6.4.0', version: '6.4.0', path: 'swupdate/vvx/6.4.0/sip.ld' };

/**
 * `npm run demo`: a firmware rollout. Twelve VVX 410 phones on 6.3.1 whose provisioning config
 * names the 6.4.0 image; the DMS submits a rollout whose window opens a few seconds later, at
 * most three phones at a time. Each phone reboots, boots through the relay, fetches the image
 * from its cache and comes back on 6.4.0. Runs after the firmware part (the image must be synced).
 */
export const rolloutDemoPart = {
  title: `Firmware rollout: ${PHONES} phones to ${IMAGE.version}, ${MAX_CONCURRENT} at a time, window opening in ${OPENS_AFTER_MS / 1000} s`,
  async run(ctx: DemoCtx): Promise<void> {
    if (!ctx.provisioning) {
      ctx.say('  skipped: no tenant provisioning server (the provisioning part did not run)');
      return;
    }
    const farm = await PhoneFarm.start({
      count: PHONES,
      firstIndex: 300,
      defaults: { model: 'VVX 410', firmware: '6.3.1.0400' },
      timing: { rebootOfflineMs: 1_500 },
      provisioning: { relayUrl: `https://127.0.0.1:${ctx.relay.httpsPort}`, servername: ctx.relay.fqdn, ca: ctx.sim.ca.certPem, account: DEFAULT_ACCOUNT },
    });
    try {
      for (const { phone } of farm.phones) ctx.provisioning.setFile(`${phone.mac}.cfg`, masterConfig(IMAGE.path, []));
      const opensAt = new Date(Date.now() + OPENS_AFTER_MS).toISOString();
      const frameId = ctx.sim.sendFrame(ctx.relayId, {
        type: 'rollout.submit',
        rolloutId: ROLLOUT_ID,
        name: `VVX 410 to ${IMAGE.version}`,
        imageId: IMAGE.imageId,
        targets: farm.targets(),
        policy: { schedule: { kind: 'once', notBefore: opensAt }, idleMinutes: 0, maxConcurrent: MAX_CONCURRENT },
      });
      const answer = await ctx.until(() => ctx.sim.answer(ctx.relayId, frameId), 10_000, 'the rollout.submit answer');
      ctx.say(`rollout ${ROLLOUT_ID} submitted (${answer}): ${PHONES} phones on 6.3.1, window opens ${opensAt}`);
      const admin = ctx.relay.adminUrl.replace(/^http:\/\//, '');
      ctx.say(`  watch it: cloud-relay rollouts --follow --admin ${admin}, or the status page ${ctx.relay.adminUrl}/ (rollouts card)`);
      const states = () => ctx.sim.received(ctx.relayId, 'rollout.state').filter((f) => f.frame.rolloutId === ROLLOUT_ID);
      let shown = 0;
      const show = () => {
        for (const f of states().slice(shown)) {
          const t = f.frame.totals as Record<string, number>;
          ctx.say(
            `  rollout.state ${String(f.frame.state)}${f.frame.reason ? ` (${String(f.frame.reason)})` : ''}: upgraded ${t.upgraded}, upgrading ${t.inProgress}, failed ${t.failed} of ${t.total}`,
          );
        }
        shown = states().length;
      };
      await ctx.until(
        () => {
          show();
          return states().some((f) => f.frame.state === 'done' || f.frame.state === 'aborted');
        },
        OPENS_AFTER_MS + 60_000,
        'the rollout to finish',
      );
      show();
      const results = ctx.sim.received(ctx.relayId, 'rollout.result').filter((f) => f.frame.rolloutId === ROLLOUT_ID);
      const upgraded = results.filter((f) => f.frame.outcome === 'success').length;
      ctx.say(
        `  ${results.length} rollout.result frames, ${upgraded} upgraded; the phones now run ${[...new Set(farm.phones.map(({ phone }) => phone.firmware))].join(', ')} (\`cloud-relay rollouts show ${ROLLOUT_ID}\`)`,
      );
    } finally {
      await farm.close();
    }
  },
};

import { createCa, issueCert, toPfx, type KeyedCert } from '../pki.js';
import { bootPolycomPhone } from '../phone/boot.js';
import { DEFAULT_ACCOUNT, configBody } from './files.js';
import { startProvisioningSimulator } from './server.js';

/** What the demo hands each part (structurally the demo's DemoContext; kept local to avoid importing the demo's entry point). */
interface DemoCtx {
  readonly sim: {
    readonly ca: KeyedCert;
    provisioningUrl: string;
    sendFrame(relayId: string, frame: Record<string, unknown>): string;
    answer(relayId: string, frameId: string): string | undefined;
    queueAction(relayId: string, action: string): void;
    relay(relayId: string): { readonly registrations: number } | undefined;
    heartbeats(relayId: string): readonly unknown[];
  };
  readonly relay: { readonly fqdn: string; readonly httpsPort: number };
  readonly relayId: string;
  readonly dataDir: string;
  /** Set here: later parts add files to the tenant provisioning server. */
  provisioning?: { setFile(name: string, body: string | Buffer): void };
  say(line: string): void;
  until<T>(pred: () => T | undefined | false, timeoutMs?: number, what?: string): Promise<T>;
}

// Long and distinctive: `cloud-relay diag` scrubs every known secret value from its bundle, and a word like "demo" would blank it out of every path.
const DEMO_PFX_PASSPHRASE = 'demo-pfx-passphrase-4711';

const MACS = ['0004f2000a01', '0004f2000a02', '64167f000a03', '64167f000a04'];

/**
 * `npm run demo`: the phone-facing port. The DMS installs a real certificate (cert.install,
 * hot-swapped), hands out a tenant provisioning server, four Polycom phones boot through the
 * relay, and a password-guessing address gets banned.
 */
export const provisioningDemoPart = {
  title: 'Phone-facing HTTPS: cert.install, Polycom boots through the relay, IP guard',
  async run(ctx: DemoCtx): Promise<void> {
    const fqdn = ctx.relay.fqdn;
    const port = ctx.relay.httpsPort;
    const inter = createCa('demo issuing CA', ctx.sim.ca);
    const leaf = issueCert({ cn: fqdn, dnsNames: [fqdn], issuer: inter });
    const frameId = ctx.sim.sendFrame(ctx.relayId, {
      type: 'cert.install',
      pfx: toPfx(leaf, [inter, ctx.sim.ca], DEMO_PFX_PASSPHRASE).toString('base64'),
      passphrase: DEMO_PFX_PASSPHRASE,
    });
    const answer = await ctx.until(() => ctx.sim.answer(ctx.relayId, frameId), 10_000, 'the cert.install answer');
    ctx.say(`cert.install for ${fqdn} (leaf → intermediate → root): relay answered ${answer}; new TLS handshakes get it, open ones keep theirs`);

    // Two phones have their own master config; the other two get 000000000000.cfg, whose
    // CONFIG_FILES names a per-MAC file too.
    const prov = await startProvisioningSimulator({ ca: ctx.sim.ca, macs: MACS.slice(0, 2) });
    prov.unref();
    for (const mac of MACS.slice(2)) prov.setFile(`${mac}-ext.cfg`, configBody(`${mac}-ext.cfg`, 3_000));
    ctx.sim.provisioningUrl = prov.url;
    ctx.provisioning = prov;
    const registrations = ctx.sim.relay(ctx.relayId)?.registrations ?? 0;
    ctx.sim.queueAction(ctx.relayId, 'reregister');
    await ctx.until(() => (ctx.sim.relay(ctx.relayId)?.registrations ?? 0) > registrations, 20_000, 'the relay to re-register and learn the provisioning URL');
    // A heartbeat after the new registration shows the relay has taken in the answer.
    const beats = ctx.sim.heartbeats(ctx.relayId).length;
    await ctx.until(() => ctx.sim.heartbeats(ctx.relayId).length > beats, 20_000, 'a heartbeat after the re-registration');
    ctx.say(`tenant provisioning server at ${prov.url} (Basic auth ${DEFAULT_ACCOUNT.user}); the relay passes phones through to it`);

    const relayUrl = `https://127.0.0.1:${port}`;
    const boots = await Promise.all(
      MACS.map((mac, i) =>
        bootPolycomPhone({
          relayUrl,
          servername: fqdn,
          ca: ctx.sim.ca.certPem,
          mac,
          model: i % 2 === 0 ? 'VVX_410' : 'VVX_500',
          localAddress: `127.20.10.${i + 1}`,
          account: DEFAULT_ACCOUNT,
          fetchFirmware: false,
        }),
      ),
    );
    boots.forEach((b, i) => {
      const failed = b.steps.filter((s) => s.status >= 400).map((s) => `${s.path} ${s.status}`);
      ctx.say(
        `  phone ${MACS[i]} (127.20.10.${i + 1}): ${b.ok ? 'booted' : 'FAILED'}: ${b.steps.length} requests, master ${b.master ?? '-'}, configs ${b.configFiles.join(', ')}; optional files missing: ${failed.length}`,
      );
    });
    ctx.say(`  the provisioning server received ${prov.uploads.size} uploaded files (boot and app logs)`);

    const { Client } = await import('undici');
    const attacker = new Client(relayUrl, { connect: { ca: ctx.sim.ca.certPem, servername: fqdn }, localAddress: '127.20.10.250' });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await attacker.request({
        method: 'GET',
        path: '/000000000000.cfg',
        headers: { authorization: `Basic ${Buffer.from(`${DEFAULT_ACCOUNT.user}:guess${i}`).toString('base64')}` },
      });
      await res.body.dump();
      statuses.push(res.statusCode);
    }
    await attacker.close();
    ctx.say(`  127.20.10.250 guessing passwords got: ${statuses.join(' ')} (banned after 10 failures; try \`cloud-relay ip list --data-dir ${ctx.dataDir}\`)`);
  },
};

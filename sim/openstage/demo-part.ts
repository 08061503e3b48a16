import { OPENSTAGE_DEMO_IMAGE } from '../dms/images-demo.js';
import { OpenStageFarm } from './farm.js';

/** What the demo hands each part (structurally the demo's DemoContext; kept local to avoid importing the demo's entry point). */
interface DemoCtx {
  readonly sim: {
    submitTask(
      relayId: string,
      t: { name?: string; command: { kind: string; args?: Record<string, unknown> }; targets: Record<string, unknown>[]; expiresAt?: string },
    ): { taskId: string };
    received(relayId: string, type?: string): { frame: Record<string, unknown> }[];
  };
  readonly relay: { readonly fqdn: string };
  readonly relayId: string;
  say(line: string): void;
  until<T>(pred: () => T | undefined | false, timeoutMs?: number, what?: string): Promise<T>;
}

const PHONES = 3;

/**
 * `npm run demo`: three simulated OpenStage phones beside the Polycom ones, driven through the
 * relay's DLS port: a read, a write refused while the phone is in a call and applied once it
 * hangs up, and a software deployment the phone downloads from the relay's cache. Runs after
 * the firmware part (the OpenStage image must be synced into the cache).
 */
export const openStageDemoPart = {
  title: `OpenStage: ${PHONES} simulated phones through the relay's DLS port (contact-me, interactions)`,
  async run(ctx: DemoCtx): Promise<void> {
    const farm = await OpenStageFarm.start({ count: PHONES, firstIndex: 100, hosts: { [ctx.relay.fqdn]: '127.0.0.1' } });
    try {
      ctx.say(`${PHONES} OpenStage phones listening for contact-mes on ${farm.phone(0).ip} … ${farm.phone(PHONES - 1).ip}`);
      const run = async (name: string, command: { kind: string; args?: Record<string, unknown> }, i: number, during?: (taskId: string) => Promise<void>) => {
        const { taskId } = ctx.sim.submitTask(ctx.relayId, { name, command, targets: [farm.target(i)], expiresAt: new Date(Date.now() + 120_000).toISOString() });
        await during?.(taskId);
        const result = await ctx.until(() => ctx.sim.received(ctx.relayId, 'task.result').find((f) => f.frame.taskId === taskId)?.frame, 60_000, `task "${name}"`);
        ctx.say(`  ${name}: ${String(result.outcome)}${result.reason ? ` (${String(result.reason)})` : ''}${result.data ? ` ${JSON.stringify(result.data)}` : ''}`);
        ctx.say(`  phone ${farm.phone(i).ip} saw: ${farm.phone(i).log.join(' | ')}`);
      };
      await run('read e164 and device-type', { kind: 'getParams', args: { names: ['e164', 'device-type'] } }, 0);
      const busy = farm.phone(1);
      busy.startCall();
      await run('write display-id during a call', { kind: 'setParams', args: { values: { 'display-id': 'Reception' } } }, 1, async () => {
        await ctx.until(() => busy.sendSolicited, 30_000, 'the write to be refused busy');
        ctx.say('  the phone refused the write (busy: in a call); the relay answered CleanUp with send-solicited and waits; hanging up …');
        busy.endCall();
      });
      ctx.say(`  display-id on the phone is now "${busy.items.get('display-id') ?? ''}"`);
      const p = farm.phone(2);
      const before = p.items.get('software-version');
      await run(`software deployment of ${OPENSTAGE_DEMO_IMAGE.imageId} from the cache`, { kind: 'updateFirmware', args: { imageId: OPENSTAGE_DEMO_IMAGE.imageId } }, 2);
      ctx.say(
        `  phone ${p.ip}: ${before ?? '?'} → ${p.items.get('software-version') ?? '?'}, downloads ${JSON.stringify(p.downloads)} from a per-phone URL (refused for any other address)`,
      );
    } finally {
      await farm.close();
    }
  },
};

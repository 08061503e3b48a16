import { PhoneFarm } from './farm.js';

/** What the demo hands each part (structurally the demo's DemoContext; kept local to avoid importing the demo's entry point). */
interface DemoCtx {
  readonly sim: {
    submitTask(relayId: string, t: { name?: string; command: { kind: string; args?: Record<string, unknown> }; targets: Record<string, unknown>[] }): { taskId: string };
    received(relayId: string, type?: string): { frame: Record<string, unknown> }[];
  };
  readonly relayId: string;
  say(line: string): void;
  until<T>(pred: () => T | undefined | false, timeoutMs?: number, what?: string): Promise<T>;
}

const PHONES = 36;

/**
 * `npm run demo`: a few dozen simulated Polycom phones on 127.20.x.y; the DMS reboots eight
 * of them (one is in a call, so its reboot is deferred) and places a call from another.
 */
export const phonesDemoPart = {
  title: `Device commands: ${PHONES} simulated Polycom phones, a reboot task and a dial`,
  async run(ctx: DemoCtx): Promise<void> {
    const farm = await PhoneFarm.start({ count: PHONES, firstIndex: 200, timing: { rebootOfflineMs: 1_500, callStepMs: 100, answerMs: 400 } });
    try {
      ctx.say(`${PHONES} phones listening on ${farm.phones[0]!.phone.ip} … ${farm.phones[PHONES - 1]!.phone.ip} (Polycom REST over HTTPS, self-signed)`);
      farm.phone(3).ring('sip:reception@pbx.example.org');
      farm.phone(3).calls[0]!.state = 'Connected';
      const run = async (name: string, command: { kind: string; args?: Record<string, unknown> }, idx: number[]) => {
        const { taskId } = ctx.sim.submitTask(ctx.relayId, { name, command, targets: idx.map((i) => farm.target(i)) });
        const frames = () => ctx.sim.received(ctx.relayId).filter((f) => f.frame.taskId === taskId);
        await ctx.until(() => frames().some((f) => f.frame.type === 'task.state' && f.frame.state === 'done'), 30_000, `task "${name}"`);
        for (const f of frames().filter((x) => x.frame.type === 'task.result')) {
          const r = f.frame;
          ctx.say(`  ${String(r.deviceId)}: ${String(r.outcome)}${r.reason ? ` (${String(r.reason)})` : ''}${r.data ? ` ${JSON.stringify(r.data)}` : ''}`);
        }
        const done = frames().find((f) => f.frame.state === 'done');
        ctx.say(`  task "${name}" done: ${JSON.stringify(done?.frame.totals)}`);
      };
      await run('reboot 8 phones', { kind: 'reboot' }, [0, 1, 2, 3, 4, 5, 6, 7]);
      await run('dial from one phone', { kind: 'dial', args: { to: '4711', dialType: 'tel', line: 1 } }, [10]);
      ctx.say(
        `  phone ${farm.phone(10).ip} now shows: ${farm
          .phone(10)
          .calls.map((c) => `${c.type} call to ${c.remote} (${c.state})`)
          .join(', ')}`,
      );
    } finally {
      await farm.close();
    }
  },
};

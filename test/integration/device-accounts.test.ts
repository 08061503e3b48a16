import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runTask, startRelayWithPhones } from '../helpers/devices.js';
import { tempDir } from '../helpers/relay-config.js';
import type { Harness } from '../helpers/harness.js';
import type { PhoneFarm } from '../../sim/phone/farm.js';

/**
 * Per-vendor account defaults over real sockets: a task.submit whose targets carry no
 * credentials is accepted (not nacked) and the relay logs in with accounts.polycom; a
 * target's own credentials win; the default password never shows in the log, /status or /config.
 */
describe('targets without credentials inherit the vendor default', () => {
  let h: Harness;
  let farm: PhoneFarm;
  let relayId: string;
  const SECRET = 'acct-default-456';

  beforeAll(async () => {
    const pwFile = join(tempDir('cr-accounts-'), 'polycom.pw');
    writeFileSync(pwFile, `${SECRET}\n`, { mode: 0o600 });
    ({ h, relayId, farm } = await startRelayWithPhones(
      { count: 2, firstIndex: 9_000 + (process.pid % 50) * 10 },
      { relayConfig: { accounts: { polycom: { user: 'Polycom', passwordFile: pwFile } }, devices: { pollIntervalSeconds: 7 * 86_400 } } },
    ));
    for (const { phone } of farm.phones) phone.password = SECRET;
  }, 60_000);

  afterAll(async () => {
    await farm?.close();
    await h?.close();
  });

  it('logs in with the default when the target has none, and with its own when it has them', async () => {
    const { credentials: _c, ...bare } = farm.target(0);
    const own = { ...farm.target(1), credentials: { user: 'Polycom', password: 'not-the-default' } };
    const r = await runTask(h.sim, relayId, { command: { kind: 'status' }, targets: [bare, own] });
    expect(h.sim.received(relayId, 'nack')).toHaveLength(0);
    expect(r.get(bare.deviceId)).toMatchObject({ outcome: 'success', data: { online: true } });
    expect(r.get(own.deviceId)?.outcome).toBe('failure');
    expect(r.get(own.deviceId)?.reason).toMatch(/refused the credentials/);
  });

  it('never shows the default password', async () => {
    const status = await (await fetch(`${h.adminUrl()}/status`)).text();
    const config = await (await fetch(`${h.adminUrl()}/config`)).text();
    expect(config).toContain('accounts.polycom.password');
    for (const text of [h.logs.text(), status, config]) expect(text).not.toContain(SECRET);
  });
});

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { request } from 'undici';
import { createCa } from '../../sim/pki.js';
import { startProvisioningSimulator, type ProvisioningSimulator } from '../../sim/provisioning/index.js';
import { command as statusCommand } from '../../src/cli/status.js';
import { ExitCode } from '../../src/errors.js';
import { startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { PFX_PASS, basicAuth, phoneClient, relayPki } from '../helpers/phone-client.js';

async function statusExit(admin: string): Promise<number> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    return await statusCommand.run(['--admin', admin.replace('http://', ''), '--json']);
  } finally {
    log.mockRestore();
  }
}

describe('draining for a load balancer', () => {
  const root = createCa('drain test root');
  let prov: ProvisioningSimulator;
  let h: Harness;

  beforeAll(async () => {
    prov = await startProvisioningSimulator({ ca: root });
    const pki = relayPki(tempDir('drain-pki-'), root);
    h = await startHarness({
      sim: { ca: root, provisioningUrl: prov.url },
      relayConfig: { pfxFile: pki.pfxFile, pfxPassphrase: PFX_PASS, lb: { drainDelaySeconds: 2 }, shutdownGraceSeconds: 5 },
    });
    await h.registered();
  });

  afterAll(async () => {
    await h?.close();
    await prov?.close();
  });

  it('fails /readyz at once, keeps serving phones (one request per connection) for the delay, then closes the port', async () => {
    const admin = h.adminUrl();
    const port = h.daemon.addresses.https!.port;
    expect((await request(`${admin}/readyz`)).statusCode).toBe(200);
    expect(await statusExit(admin)).toBe(ExitCode.OK);
    const idle = phoneClient(port, root.certPem, '127.20.6.1');
    const first = await idle.request({ method: 'GET', path: '/site.cfg', headers: { authorization: basicAuth() } });
    await first.body.text();
    expect(first.headers.connection).toBe('keep-alive');

    const stopped = h.daemon.stop('test drain');
    const ready = await request(`${admin}/readyz`);
    const report = (await ready.body.json()) as { checks: { name: string; ok: boolean }[] };
    expect(ready.statusCode).toBe(503);
    expect(report.checks.find((c) => c.name === 'not-draining')).toMatchObject({ ok: false });
    expect(await statusExit(admin)).toBe(ExitCode.TEMP_FAIL);

    // Inside the delay a new connection is still served, and told to close afterwards.
    const phone = phoneClient(port, root.certPem, '127.20.6.2');
    const during = await phone.request({ method: 'GET', path: '/site.cfg', headers: { authorization: basicAuth() } });
    expect(during.statusCode).toBe(200);
    expect(during.headers.connection).toBe('close');
    await during.body.text();
    await phone.close();
    await idle.close();

    await waitFor(() => h.logs.find((l) => l.msg === 'shutting down: draining in-flight work'), { timeoutMs: 10_000, message: 'drain delay over' });
    const late = phoneClient(port, root.certPem, '127.20.6.3');
    await expect(late.request({ method: 'GET', path: '/site.cfg', headers: { authorization: basicAuth() } })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await late.close();
    await stopped;
    const delayLine = h.logs.find((l) => l.msg?.startsWith('shutting down: readiness now fails') === true);
    expect(delayLine).toMatchObject({ drainDelaySeconds: 2 });
  });
});

import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessChecker, type AccessQuery } from '../../src/cache/access.js';
import { createLogger } from '../../src/log.js';
import { basic, startProvisioningOrigin, testPki, type ProvisioningOrigin } from '../helpers/firmware-origins.js';

const pki = testPki();
let prov: ProvisioningOrigin;
const dispatcher = new Agent({ connect: { ca: pki.ca.certPem } });
const clock = {
  t: 1_000_000,
  now() {
    return this.t;
  },
};

beforeAll(async () => {
  prov = await startProvisioningOrigin(pki, { phone1: 'secret1' }, new Map([['/fw/sip.ld', Buffer.alloc(1000, 7)]]));
});
afterAll(async () => {
  await prov.close();
  await dispatcher.close();
});

const query = (auth: string | undefined, path = '/fw/sip.ld', provisioningUrl = `${prov.url}/provisioning/`): AccessQuery => ({
  provisioningUrl,
  relayId: 'relay-1',
  path,
  method: 'GET',
  clientIp: '127.20.0.9',
  authorization: auth,
  userAgent: 'FileTransport PolycomVVX-VVX_450-UA/6.4.0',
});

describe('credential check against the provisioning server', () => {
  it('remembers a yes per credential for the TTL, shares concurrent checks, never remembers a no, fails closed', async () => {
    const checker = new AccessChecker({ dispatcher, ttlMs: 60_000, clock, log: createLogger('silent') });
    const hits = () => prov.hits.get('/fw/sip.ld') ?? 0;
    const h0 = hits();
    const answers = await Promise.all(Array.from({ length: 5 }, () => checker.check(query(basic('phone1', 'secret1')))));
    expect(answers.every((a) => a.ok)).toBe(true);
    expect(answers[0]).toMatchObject({ ok: true, size: 1000 });
    expect(hits() - h0).toBe(1);
    expect((await checker.check(query(basic('phone1', 'secret1')))).ok).toBe(true);
    expect(hits() - h0).toBe(1);
    clock.t += 61_000;
    expect((await checker.check(query(basic('phone1', 'secret1')))).ok).toBe(true);
    expect(hits() - h0).toBe(2);

    const bad = await checker.check(query(basic('phone1', 'wrong')));
    expect(bad).toMatchObject({ ok: false, status: 401, headers: { 'WWW-Authenticate': 'Basic realm="provisioning"' } });
    await checker.check(query(basic('phone1', 'wrong')));
    expect(hits() - h0).toBe(4);
    expect(await checker.check(query(undefined))).toMatchObject({ ok: false, status: 401 });

    // 404 with good credentials: the credentials passed, the file is not there. (Within the
    // TTL the remembered yes answers without asking.)
    expect(await checker.check(query(basic('phone1', 'secret1'), '/fw/none.ld'))).toEqual({ ok: true });
    clock.t += 61_000;
    expect(await checker.check(query(basic('phone1', 'secret1'), '/fw/none.ld'))).toEqual({ ok: true, notFound: true });

    // Nobody answering is a refusal, not a pass.
    const down = await checker.check(query(basic('phone9', 'x'), '/fw/sip.ld', 'https://127.0.0.1:1/'));
    expect(down).toMatchObject({ ok: false, status: 502 });
  });
});

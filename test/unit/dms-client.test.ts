import { describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DmsClient } from '../../src/dms/client.js';
import { tempDir } from '../helpers/relay-config.js';
import { sharedDmsPki } from '../helpers/pki-cache.js';

const clock = { now: () => Date.now() };

describe('DMS client', () => {
  it('resolves paths under the base URL and encodes relay path segments', async () => {
    const dms = DmsClient.open({ dmsUrl: 'https://dms.example/tenant-a' }, { clock, apiTimeoutMs: 1_000, bulkConnections: 1 });
    expect(dms.url('/api/v1/relays/register')).toBe('https://dms.example/tenant-a/api/v1/relays/register');
    expect(dms.relayUrl('r/1', 'files', 'a b.pcap')).toBe('https://dms.example/tenant-a/api/v1/relays/r%2F1/files/a%20b.pcap');
    await dms.close();
  });

  it('sends the bearer token only to the DMS origin, and a rejected token goes to the registration', async () => {
    const dms = DmsClient.open({ dmsUrl: 'https://dms.example/' }, { clock, apiTimeoutMs: 1_000, bulkConnections: 1 });
    expect(dms.authHeaders('https://dms.example/images/a.ld')).toEqual({});
    const rejected: string[] = [];
    dms.useAuthority({ current: () => ({ relayId: 'r-1', token: 'tok' }), invalidate: (why) => rejected.push(why) });
    expect(dms.authHeaders('https://dms.example/images/a.ld')).toEqual({ authorization: 'Bearer tok' });
    expect(dms.authHeaders('https://cdn.example/images/a.ld')).toEqual({});
    dms.tokenRejected('catalogue 401');
    expect(rejected).toEqual(['catalogue 401']);
    await dms.close();
  });

  it('reads dmsCaFile once, when it is opened: later dispatchers use that trust', async () => {
    const dir = tempDir('cr-dms-trust-');
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, sharedDmsPki().ca.certPem);
    const dms = DmsClient.open({ dmsUrl: 'https://dms.example/', dmsCaFile: caFile }, { clock, apiTimeoutMs: 1_000, bulkConnections: 1 });
    rmSync(dir, { recursive: true, force: true });
    expect(dms.trust.ca?.at(-1)).toBe(sharedDmsPki().ca.certPem);
    // Gone from disk, yet every lane and the control channel still get the one context built from it.
    expect(() => dms.bulk).not.toThrow();
    expect(() => dms.passThroughPool('https://prov.example', { connections: 1, keepAliveTimeoutMs: 1_000 })).not.toThrow();
    expect(dms.webSocketOptions('wss://dms.example/control').secureContext).toBe(dms.trust.secureContext);
    await dms.close();
  });
});

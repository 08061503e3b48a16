import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:https';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { sharedDmsPki } from '../helpers/pki-cache.js';
import { tempDir } from '../helpers/relay-config.js';
import { DmsFiles } from '../../src/management-agent/dms-files.js';
import { DmsClient } from '../../src/dms/client.js';
import { DeviceError } from '../../src/devices/errors.js';
import type { Registration } from '../../src/core/ports.js';

/**
 * File uploads to the DMS retry what may pass on a second try (5xx) and stop at the DMS's
 * final word (4xx), whatever text the DMS puts in its answer. The DMS here is a plain HTTPS
 * server on loopback that answers each request with the next scripted status.
 */
describe('DMS file upload retries', () => {
  const dir = tempDir('cr-upload-');
  const caFile = join(dir, 'ca.pem');
  const file = join(dir, 'capture.bin');
  let server: Server;
  let url: string;
  let script: { status: number; body: string }[] = [];
  let hits = 0;
  const reg: Registration = {
    relayId: 'r-1',
    token: 'tok',
    tokenExpiresAt: '',
    heartbeatIntervalSeconds: 120,
    controlUrl: '',
    provisioningUrl: '',
    site: { id: 's', name: 's', subnets: [], siteSpecific: false },
  };

  beforeAll(async () => {
    const { ca, serverCert } = sharedDmsPki();
    writeFileSync(caFile, ca.certPem);
    writeFileSync(file, Buffer.alloc(1024, 7));
    server = createServer({ cert: serverCert.certPem, key: serverCert.keyPem }, (req, res) => {
      hits++;
      const next = script.shift() ?? { status: 201, body: '{"name":"x","size":1024,"sha256":"ab"}' };
      req.resume();
      req.on('end', () => res.writeHead(next.status, { 'content-type': 'application/json' }).end(next.body));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const rejected: string[] = [];
  let dms: DmsClient | undefined;
  const files = () => {
    dms = DmsClient.open({ dmsUrl: url, dmsCaFile: caFile }, { clock: { now: () => Date.now() }, apiTimeoutMs: 5_000, bulkConnections: 8 });
    dms.useAuthority({ current: () => reg, invalidate: (why) => rejected.push(why) });
    return new DmsFiles({ dms, retryDelayMs: 1 });
  };

  it('a 4xx is final even when the DMS answer mentions another status; a 5xx is retried', async () => {
    const f = files();
    try {
      hits = 0;
      script = [{ status: 403, body: '{"error":"forbidden"}' }];
      await expect(f.upload(file, 'a.bin', 'application/octet-stream')).rejects.toThrow(/HTTP 403/);
      expect(hits).toBe(1);

      hits = 0;
      script = [{ status: 502, body: 'upstream said HTTP 404' }];
      const ok = await f.upload(file, 'b.bin', 'application/octet-stream');
      expect(ok.size).toBe(1024);
      expect(hits).toBe(2);

      hits = 0;
      script = [500, 500, 500].map((status) => ({ status, body: 'down' }));
      const err: unknown = await f.upload(file, 'c.bin', 'application/octet-stream').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DeviceError);
      expect((err as DeviceError).code).toBe('UPLOAD_FAILED');
      expect(hits).toBe(3);
      expect(rejected).toEqual([]);

      // The DMS refused the token: not resent, and the relay registers again.
      hits = 0;
      script = [{ status: 401, body: '{"error":"unauthorized"}' }];
      await expect(f.upload(file, 'd.bin', 'application/octet-stream')).rejects.toThrow(/HTTP 401/);
      expect(hits).toBe(1);
      expect(rejected).toEqual(['a file upload was refused (401)']);
    } finally {
      await f.close();
      await dms?.close();
    }
  });
});
